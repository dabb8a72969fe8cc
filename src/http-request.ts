/**
 * What the gateway reads from a request before any action runs: its request id, media type, and the
 * publish parameters that travel outside the body's JSON.
 *
 * @example
 *   requestIdOf(req.headers["x-request-id"]);  // the client's id if sane, else a new UUID
 *   publishParams(req.$params, req.body, req.headers); // text/plain body → text; Idempotency-Key → clientMsgId
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { clientMsgIdMismatch } from "./errors";

/** An X-Request-ID we accept from a client (or proxy); anything else is replaced by a new id. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(given: string | undefined): string {
	return given && REQUEST_ID.test(given) ? given : randomUUID();
}

/** JSON overhead allowed on top of the text limit before the body itself is refused. */
export function bodyLimit(maxMessageBytes: number): number {
	return maxMessageBytes * 2 + 1024;
}

/** The Content-Type without its parameters, lower-cased ("" when absent). */
export function mediaType(req: IncomingMessage): string {
	return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * What every publish route takes from the request besides its own params: a text body (text/plain, or
 * anything on the legacy route) is the message text, and the standard `Idempotency-Key` header is the
 * `clientMsgId` (a body that names a different one is refused). Changes `params` in place.
 *
 * @example
 *   publishParams(params, "hi", req.headers); // params.text = "hi"; params.clientMsgId = the header, if any
 */
export function publishParams(params: Record<string, unknown>, body: unknown, headers: IncomingHttpHeaders): void {
	if (typeof body === "string") params.text = body;
	const key = headers["idempotency-key"];
	if (key === undefined) return;
	const current = params.clientMsgId;
	if (current !== undefined && current !== null && current !== key) throw clientMsgIdMismatch();
	params.clientMsgId = key;
}

/** The request id moleculer-web gives a request: `X-Correlation-ID` if non-empty, else `X-Request-ID`, if sane (requestIdOf). */
export function requestIdOfHeaders(headers: IncomingHttpHeaders): string {
	const given = headers["x-correlation-id"] || headers["x-request-id"];
	return requestIdOf(typeof given === "string" ? given : undefined);
}

/**
 * Whether a request path can name a file of the demo page: absolute, not protocol-relative (`//…`),
 * without `#` (never sent by browsers; control characters never get past Node's parser). Anything else
 * is not looked up on disk.
 *
 * @example
 *   isFilePath("/app.js?v=2"); // true
 *   isFilePath("//#@");        // false
 */
export function isFilePath(url: string | undefined): boolean {
	return url !== undefined && /^\/(?!\/)[^#]*$/.test(url);
}

/** The demo page may load only its own scripts and styles, and talk only to this origin. */
export const CONTENT_SECURITY_POLICY = [
	"default-src 'self'",
	"script-src 'self'",
	"style-src 'self'",
	"img-src 'self' data:",
	"connect-src 'self'",
	"object-src 'none'",
	"base-uri 'none'",
	"frame-ancestors 'none'",
	"form-action 'self'",
].join("; ");
