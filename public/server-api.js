// Thin client for the Chatcast HTTP API (same origin).

/** A send that hangs this long fails, so the user can retry it (with the same clientMsgId). */
const SEND_TIMEOUT_MS = 15000;

/**
 * Error carrying the server's `{ message, type }` body (`status` 0 when the server was not reached).
 * @example
 *   if (err instanceof ApiError && err.type === "INVALID_CHANNEL") …
 */
export class ApiError extends Error {
	/**
	 * @param {string} message
	 * @param {{ status?: number, type?: string }} [info]
	 */
	constructor(message, info = {}) {
		super(message);
		this.name = "ApiError";
		this.status = info.status ?? 0;
		this.type = info.type;
	}
}

/** The token to send (empty: none); set by the page once signed in (auth.js). */
let currentToken = () => "";

/**
 * Makes every request carry the token `getToken()` returns, when it returns one: as `Authorization:
 * Bearer` on requests, as `access_token` on stream URLs (EventSource cannot send headers).
 * @example
 *   useToken(() => holder.token);
 */
export function useToken(getToken) {
	currentToken = getToken;
}

const channelBase = channel => `/api/channels/${encodeURIComponent(channel)}`;

async function request(url, { timeoutMs, ...init } = {}) {
	let res;
	try {
		res = await fetch(url, {
			...init,
			headers: { Accept: "application/json", ...authorization(), ...(init.headers || {}) },
			cache: "no-store",
			credentials: "same-origin",
			signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
		});
	} catch (err) {
		throw new ApiError(
			err instanceof Error && err.name === "TimeoutError"
				? "The server took too long to answer. Try again."
				: "Could not reach the server. Check your connection and try again.",
		);
	}
	let body = null;
	const type = res.headers.get("content-type") || "";
	if (type.includes("json")) {
		try {
			body = await res.json();
		} catch {
			body = null;
		}
	}
	if (!res.ok) {
		const message =
			typeof body?.message === "string" && body.message
				? body.message
				: `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}.`;
		throw new ApiError(message, { status: res.status, type: body?.type });
	}
	if (body === null) throw new ApiError("The server sent an unexpected answer.", { status: res.status });
	return body;
}

function authorization() {
	const token = currentToken();
	return token ? { Authorization: `Bearer ${token}` } : {};
}

/** `GET /api/limits` → `{ maxMessageBytes, auth }`: what the server accepts, and whether it needs a token. */
export function getLimits() {
	return request("/api/limits");
}

/** `GET /api/channels/:channel` → `{ channel, lastSeq, subscribers }` */
export function getChannel(channel) {
	return request(channelBase(channel));
}

/** `GET /api/channels/:channel/messages?after&limit` → `{ channel, messages, oldestSeq, lastSeq }` */
export function getMessages(channel, { after = 0, limit = 50 } = {}) {
	const qs = new URLSearchParams({ after: String(after), limit: String(limit) });
	return request(`${channelBase(channel)}/messages?${qs}`);
}

/**
 * Loads the most recent `count` messages: asks for the channel's lastSeq first,
 * then reads the window that ends there.
 * @example
 *   const { messages, oldestSeq, lastSeq } = await getRecentMessages(channel, 50);
 */
export async function getRecentMessages(channel, count = 50) {
	const head = await getMessages(channel, { after: 0, limit: 1 });
	const lastSeq = Number(head.lastSeq) || 0;
	if (lastSeq === 0) return { ...head, messages: [], lastSeq: 0 };
	return getMessages(channel, { after: Math.max(0, lastSeq - count), limit: count });
}

/** `POST /api/channels/:channel/messages` → the stored message (201, or 200 on an idempotent repeat). */
export function postMessage(channel, { text, author, clientMsgId }) {
	return request(`${channelBase(channel)}/messages`, {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ text, author, clientMsgId }),
		timeoutMs: SEND_TIMEOUT_MS,
	});
}

/** URL of the channel's SSE stream, optionally resuming after `lastEventId`, with the current token. */
export function eventsUrl(channel, lastEventId) {
	const qs = new URLSearchParams();
	if (lastEventId != null) qs.set("lastEventId", String(lastEventId));
	const token = currentToken();
	if (token) qs.set("access_token", token);
	const query = qs.toString();
	return `${channelBase(channel)}/events${query ? `?${query}` : ""}`;
}
