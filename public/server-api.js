// Thin client for the Chatcast HTTP API (same origin).

/** Error carrying the server's `{ name, message, code, type, data }` body. */
export class ApiError extends Error {
	/**
	 * @param {string} message
	 * @param {{ status?: number, code?: string|number, type?: string, data?: unknown, network?: boolean }} [info]
	 */
	constructor(message, info = {}) {
		super(message);
		this.name = "ApiError";
		this.status = info.status ?? 0;
		this.code = info.code;
		this.type = info.type;
		this.data = info.data;
		this.network = Boolean(info.network);
	}
}

const channelBase = channel => `/api/channels/${encodeURIComponent(channel)}`;

async function request(url, init = {}) {
	let res;
	try {
		res = await fetch(url, {
			...init,
			headers: { Accept: "application/json", ...(init.headers || {}) },
			cache: "no-store",
			credentials: "same-origin",
		});
	} catch (err) {
		throw new ApiError("Could not reach the server. Check your connection and try again.", { network: true });
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
			body && typeof body.message === "string" && body.message
				? body.message
				: `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}.`;
		throw new ApiError(message, {
			status: res.status,
			code: body && body.code,
			type: body && body.type,
			data: body && body.data,
		});
	}
	if (body === null) throw new ApiError("The server sent an unexpected answer.", { status: res.status });
	return { status: res.status, body };
}

/** `GET /api/channels/:channel` → `{ channel, lastSeq, subscribers }` */
export async function getChannel(channel) {
	return (await request(channelBase(channel))).body;
}

/** `GET /api/channels/:channel/messages?after&limit` → `{ channel, messages, oldestSeq, lastSeq }` */
export async function getMessages(channel, { after = 0, limit = 50 } = {}) {
	const qs = new URLSearchParams({ after: String(after), limit: String(limit) });
	return (await request(`${channelBase(channel)}/messages?${qs}`)).body;
}

/**
 * Loads the most recent `count` messages: asks for the channel's lastSeq first,
 * then reads the window that ends there.
 */
export async function getRecentMessages(channel, count = 50) {
	const head = await getMessages(channel, { after: 0, limit: 1 });
	const lastSeq = Number(head.lastSeq) || 0;
	if (lastSeq === 0) return { ...head, messages: [], lastSeq: 0 };
	return getMessages(channel, { after: Math.max(0, lastSeq - count), limit: count });
}

/** `POST /api/channels/:channel/messages` → the stored message (201, or 200 on an idempotent repeat). */
export async function postMessage(channel, { text, author, clientMsgId }) {
	const { body } = await request(`${channelBase(channel)}/messages`, {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ text, author, clientMsgId }),
	});
	return body;
}

/** URL of the channel's SSE stream, optionally resuming after `lastEventId`. */
export function eventsUrl(channel, lastEventId) {
	const base = `${channelBase(channel)}/events`;
	return lastEventId == null ? base : `${base}?lastEventId=${encodeURIComponent(String(lastEventId))}`;
}
