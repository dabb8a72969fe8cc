/**
 * Every error Chatcast answers with, defined once.
 *
 * Each entry is a stable `type` (clients may switch on it), its HTTP status and a default message.
 * Errors are Moleculer errors so they keep their shape across the transporter:
 *
 * @example
 *   throw chatError("INVALID_CHANNEL", { channel });
 *   // → HTTP 400 {"name":"MoleculerClientError","message":"…","code":400,"type":"INVALID_CHANNEL","data":{…}}
 */
import { Errors } from "moleculer";

export const ERROR_CATALOGUE = {
	INVALID_CHANNEL: { status: 400, message: "The channel must be a UUID." },
	EMPTY_MESSAGE: { status: 400, message: "The message text must not be empty." },
	INVALID_AUTHOR: { status: 400, message: "The author must be 1-64 characters without control characters." },
	INVALID_CLIENT_MSG_ID: { status: 400, message: "clientMsgId must be 1-128 printable ASCII characters." },
	INVALID_LAST_EVENT_ID: { status: 400, message: "Last-Event-ID must be a non-negative integer (a seq)." },
	INVALID_JSON: { status: 400, message: "The request body is not valid JSON." },
	NOT_FOUND: { status: 404, message: "Not found." },
	BODY_TOO_LARGE: { status: 413, message: "The request body is too large." },
	MESSAGE_TOO_LARGE: { status: 413, message: "The message text is too long." },
	UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "Send application/json or text/plain." },
	VALIDATION_ERROR: { status: 422, message: "Parameters validation error!" },
	INTERNAL_ERROR: { status: 500, message: "Internal server error." },
	STORE_UNAVAILABLE: { status: 503, message: "The history store is unavailable; the message was not accepted." },
	SERVICE_UNAVAILABLE: { status: 503, message: "A required service is not available right now." },
	NOT_READY: { status: 503, message: "This node cannot serve yet." },
} as const;

export type ErrorType = keyof typeof ERROR_CATALOGUE;

/** The JSON body of every 4xx/5xx answer (Moleculer's error shape). */
export interface ErrorBody {
	name: string;
	message: string;
	code: number;
	type: string;
	data?: unknown;
}

/** Creates the Moleculer error for a catalogue entry: a client error for 4xx, a server error for 5xx. */
export function chatError(type: ErrorType, data?: Record<string, unknown>, message?: string): Errors.MoleculerError {
	const { status, message: defaultMessage } = ERROR_CATALOGUE[type];
	const text = message ?? defaultMessage;
	return status < 500
		? new Errors.MoleculerClientError(text, status, type, data)
		: new Errors.MoleculerError(text, status, type, data);
}

/** body-parser's error `type`s, mapped to ours. */
const BODY_PARSER_TYPES: Record<string, ErrorType> = {
	"entity.too.large": "BODY_TOO_LARGE",
	"entity.parse.failed": "INVALID_JSON",
	"encoding.unsupported": "UNSUPPORTED_MEDIA_TYPE",
	"charset.unsupported": "UNSUPPORTED_MEDIA_TYPE",
};

/** Moleculer's built-in error names that mean "no node can serve this now". */
const UNAVAILABLE_NAMES = new Set([
	"ServiceNotFoundError",
	"ServiceNotAvailableError",
	"RequestTimeoutError",
	"ServiceUnavailableError",
]);

/**
 * Turns anything thrown while serving a request into the HTTP error body, so every error
 * answer has the same shape and a stable `type`.
 */
export function toErrorBody(err: unknown): ErrorBody {
	const e = (err ?? {}) as { name?: string; message?: string; code?: unknown; type?: unknown; status?: unknown; data?: unknown };
	const bodyParserType = typeof e.type === "string" ? BODY_PARSER_TYPES[e.type] : undefined;
	if (bodyParserType) return catalogueBody(bodyParserType);
	if (e.name && UNAVAILABLE_NAMES.has(e.name)) return catalogueBody("SERVICE_UNAVAILABLE", e.data);
	if (e.name === "NotFoundError") return catalogueBody("NOT_FOUND");

	const code = typeof e.code === "number" && e.code >= 400 && e.code <= 599 ? e.code : undefined;
	if (code !== undefined && typeof e.type === "string" && e.type !== "") {
		const body: ErrorBody = { name: e.name ?? "MoleculerError", message: e.message ?? "", code, type: e.type };
		if (e.data !== undefined) body.data = e.data;
		return body;
	}
	return catalogueBody("INTERNAL_ERROR");
}

function catalogueBody(type: ErrorType, data?: unknown): ErrorBody {
	const err = chatError(type);
	const body: ErrorBody = { name: err.name, message: err.message, code: err.code, type };
	if (data !== undefined) body.data = data;
	return body;
}
