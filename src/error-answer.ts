/**
 * How an error is answered over HTTP: its status, JSON body and headers (`Retry-After` for a refusal that
 * says when to come back), also for what Node's HTTP parser refuses before any route runs.
 *
 * @example
 *   const { status, headers, body } = errorAnswer(err);
 *   res.writeHead(status, headers).end(body);
 */
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { chatError, type ErrorBody, type ErrorType, toErrorBody } from "./errors";

/** Seconds a client refused with EDGE_FULL is asked to wait. */
const EDGE_FULL_RETRY_SECONDS = 5;

export interface ErrorAnswer {
	status: number;
	headers: Record<string, string>;
	/** The JSON text of the catalogue body. */
	body: string;
	/** The body as an object, for logs. */
	error: ErrorBody;
}

export function errorAnswer(err: unknown): ErrorAnswer {
	const error = toErrorBody(err);
	const headers: Record<string, string> = { "Content-Type": "application/json; charset=utf-8" };
	const retryAfter = retryAfterSeconds(error);
	if (retryAfter !== undefined) headers["Retry-After"] = String(retryAfter);
	if (error.type === "UNAUTHORIZED") headers["WWW-Authenticate"] = wwwAuthenticate(error);
	return { status: error.code, headers, body: JSON.stringify(error), error };
}

/** RFC 6750: a request without a token is told the scheme; one with a bad token also `invalid_token`. */
function wwwAuthenticate(body: ErrorBody): string {
	const reason = typeof body.data === "object" && body.data !== null && "reason" in body.data ? body.data.reason : undefined;
	return reason === "missing" ? 'Bearer realm="chatcast"' : 'Bearer realm="chatcast", error="invalid_token"';
}

function retryAfterSeconds(body: ErrorBody): number | undefined {
	if (body.type === "EDGE_FULL") return EDGE_FULL_RETRY_SECONDS;
	if (body.type !== "RATE_LIMITED" || typeof body.data !== "object" || body.data === null) return undefined;
	const seconds = "retryAfterSeconds" in body.data ? body.data.retryAfterSeconds : undefined;
	return typeof seconds === "number" ? seconds : undefined;
}

/**
 * Answers what Node's HTTP parser refused (bad framing, huge headers, a header or request timeout) like
 * every other error — JSON with a catalogue type — and closes the connection. For `server.on("clientError")`.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
	if (!socket.writable || err.code === "ECONNRESET") return void socket.destroy();
	const type: ErrorType =
		err.code === "HPE_HEADER_OVERFLOW"
			? "HEADERS_TOO_LARGE"
			: err.code === "ERR_HTTP_REQUEST_TIMEOUT"
				? "REQUEST_TIMEOUT"
				: "MALFORMED_REQUEST";
	const { status, headers, body } = errorAnswer(chatError(type));
	const lines = Object.entries({ ...headers, "Content-Length": String(Buffer.byteLength(body)) }).map(([k, v]) => `${k}: ${v}`);
	socket.end(
		`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join("\r\n")}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
	);
}
