/**
 * Where a request's token travels, and keeping it out of every log line: `Authorization: Bearer <jwt>`,
 * the cookie `chatcast_token`, or `?access_token=` (EventSource cannot send headers). The demo page's own
 * `?token=` is never needed by the server either.
 *
 * @example
 *   const token = tokenOf(req);          // before the URL is scrubbed
 *   req.url = withoutTokens(req.url);    // "/api/channels/c/events?access_token=eyJ…" → "/api/channels/c/events"
 */
import type { IncomingHttpHeaders } from "node:http";

export const TOKEN_COOKIE = "chatcast_token";
/** Query parameters that carry a token: the streams' `access_token`, the demo page's `token`. */
const TOKEN_PARAMS = ["access_token", "token"];
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * The token a request carries, the first of: Authorization header, cookie, `access_token` query parameter.
 * An Authorization header that is not `Bearer <token>` is returned as it is, so it fails verification
 * (401) rather than being ignored.
 */
export function tokenOf(req: { headers: IncomingHttpHeaders; url?: string }): string | undefined {
	const authorization = req.headers.authorization;
	if (authorization !== undefined) return BEARER.exec(authorization)?.[1] ?? authorization;
	const cookie = cookieValue(req.headers.cookie, TOKEN_COOKIE);
	if (cookie) return cookie;
	const query = queryOf(req.url);
	return query ? (new URLSearchParams(query).get("access_token") ?? undefined) : undefined;
}

/** The URL without its token parameters (the rest unchanged); what logs and moleculer-web see. */
export function withoutTokens(url: string | undefined): string | undefined {
	const query = queryOf(url);
	if (url === undefined || query === undefined || !TOKEN_PARAMS.some(name => query.includes(name))) return url;
	const kept = query.split("&").filter(part => !TOKEN_PARAMS.includes(safeDecode(part.split("=")[0])));
	const path = url.slice(0, url.indexOf("?"));
	return kept.length > 0 ? `${path}?${kept.join("&")}` : path;
}

function queryOf(url: string | undefined): string | undefined {
	const at = url?.indexOf("?") ?? -1;
	return url !== undefined && at >= 0 ? url.slice(at + 1) : undefined;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
	if (!header) return undefined;
	for (const pair of header.split(";")) {
		const at = pair.indexOf("=");
		if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim() || undefined;
	}
	return undefined;
}

function safeDecode(text: string): string {
	try {
		return decodeURIComponent(text.replace(/\+/g, " "));
	} catch {
		return text;
	}
}
