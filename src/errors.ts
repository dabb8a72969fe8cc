/**
 * Every error a client can receive, defined once: a closed catalogue.
 *
 * Each entry is a stable `type` (clients may switch on it), its HTTP status, a default message and the
 * `data` keys a client may see. Errors are Moleculer errors so they keep their shape across the transporter.
 * `toErrorBody` answers only with catalogue types: whatever else is thrown (Moleculer's transit errors, a
 * driver's exception, a bug) becomes a catalogue type without its internals (node ids, action names, raw text).
 *
 * @example
 *   throw chatError("INVALID_CHANNEL", { channel });
 *   // → HTTP 400 {"name":"MoleculerClientError","message":"…","code":400,"type":"INVALID_CHANNEL","data":{…}}
 */
import { Errors } from "moleculer";

interface CatalogueEntry {
	status: number;
	message: string;
	/** The `data` keys a client may see; any other key stays in the logs. */
	data?: readonly string[];
}

export const ERROR_CATALOGUE = {
	INVALID_CHANNEL: { status: 400, message: "The channel must be a UUID.", data: ["channel"] },
	EMPTY_MESSAGE: { status: 400, message: "The message text must show at least one visible character." },
	INVALID_TEXT: {
		status: 400,
		message: "The message text may not contain control characters (other than newline and tab) or lone surrogates.",
	},
	INVALID_AUTHOR: {
		status: 400,
		message: "The author must be 1-64 visible characters without control, bidi, zero-width or separator characters.",
	},
	INVALID_CLIENT_MSG_ID: {
		status: 400,
		message: "clientMsgId (or the Idempotency-Key header) must be 1-128 printable ASCII characters.",
	},
	INVALID_LAST_EVENT_ID: {
		status: 400,
		message: "Last-Event-ID must be an event id of the stream (<epoch>.<seq>) or a seq (a non-negative integer).",
		data: ["lastEventId"],
	},
	INVALID_JSON: { status: 400, message: "The request body is not valid JSON." },
	INVALID_BODY: { status: 400, message: "The request body could not be read (e.g. it does not decompress)." },
	INVALID_URL: { status: 400, message: "The URL is not valid percent-encoding." },
	MALFORMED_REQUEST: { status: 400, message: "The request is not valid HTTP." },
	REQUEST_TIMEOUT: { status: 408, message: "The request took too long to arrive." },
	HEADERS_TOO_LARGE: { status: 431, message: "The request headers are too large." },
	UNAUTHORIZED: {
		status: 401,
		message: "A valid token is required (see data.reason).",
		data: ["reason"],
	},
	FORBIDDEN: { status: 403, message: "The token does not allow this channel.", data: ["channel"] },
	ORIGIN_NOT_ALLOWED: { status: 403, message: "Pages of this origin may not call this server (see CORS_ORIGINS)." },
	NOT_FOUND: { status: 404, message: "Not found." },
	BODY_TOO_LARGE: { status: 413, message: "The request body is too large." },
	MESSAGE_TOO_LARGE: { status: 413, message: "The message text is too long.", data: ["bytes", "maxBytes"] },
	UNSUPPORTED_MEDIA_TYPE: {
		status: 415,
		message: "Send application/json or text/plain in UTF-8, uncompressed or as gzip, deflate, br or zstd.",
		data: ["contentType"],
	},
	RATE_LIMITED: {
		status: 429,
		message: "Too many requests from this address; wait as Retry-After says.",
		data: ["action", "retryAfterSeconds"],
	},
	TOO_MANY_STREAMS: { status: 429, message: "This address has too many open streams.", data: ["limit"] },
	// data: the failed fields, see validationFields().
	VALIDATION_ERROR: { status: 422, message: "Parameters validation error!" },
	INTERNAL_ERROR: { status: 500, message: "Internal server error." },
	STORE_UNAVAILABLE: { status: 503, message: "The history store is unavailable; nothing was stored." },
	STORE_FULL: { status: 503, message: "The history store is full; nothing was stored. Try again later." },
	EDGE_FULL: { status: 503, message: "This node holds as many streams as it may; reconnect later (or to another node)." },
	OUTCOME_UNKNOWN: {
		status: 503,
		message:
			"No answer in time: the request may or may not have taken effect (a message may have been stored). " +
			"Retry with the same clientMsgId (or Idempotency-Key) to find out.",
	},
	SERVICE_UNAVAILABLE: { status: 503, message: "A required service is not available right now.", data: ["service"] },
	NOT_READY: { status: 503, message: "This node cannot serve yet.", data: ["checks"] },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorType = keyof typeof ERROR_CATALOGUE;

/** The JSON body of every 4xx/5xx answer (Moleculer's error shape). */
export interface ErrorBody {
	name: string;
	message: string;
	code: number;
	type: ErrorType;
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

/**
 * The answer when a publish's `Idempotency-Key` header and its body's `clientMsgId` differ.
 *
 * @example
 *   if (header !== undefined && body !== undefined && header !== body) throw clientMsgIdMismatch();
 */
export function clientMsgIdMismatch(): Errors.MoleculerError {
	return chatError(
		"INVALID_CLIENT_MSG_ID",
		undefined,
		"The Idempotency-Key header and the body's clientMsgId differ; send one of them, or the same value in both.",
	);
}

/**
 * Moleculer's (and moleculer-web's) errors for a call no node served, by class name (kept across the
 * transporter). A call that was sent but never answered may have run: its outcome is unknown.
 */
const MOLECULER_NAMES: Record<string, "SERVICE_UNAVAILABLE" | "OUTCOME_UNKNOWN"> = {
	ServiceNotFoundError: "SERVICE_UNAVAILABLE",
	ServiceNotAvailableError: "SERVICE_UNAVAILABLE",
	QueueIsFullError: "SERVICE_UNAVAILABLE",
	RequestSkippedError: "SERVICE_UNAVAILABLE",
	MaxCallLevelError: "SERVICE_UNAVAILABLE",
	BrokerDisconnectedError: "SERVICE_UNAVAILABLE",
	ServiceUnavailableError: "SERVICE_UNAVAILABLE",
	RequestTimeoutError: "OUTCOME_UNKNOWN",
	RequestRejectedError: "OUTCOME_UNKNOWN",
};

/** body-parser's error `type`s, mapped to ours (moleculer-web keeps the `type` when it wraps them). */
const BODY_PARSER_TYPES: Record<string, ErrorType> = {
	"entity.too.large": "BODY_TOO_LARGE",
	"entity.parse.failed": "INVALID_JSON",
	"encoding.unsupported": "UNSUPPORTED_MEDIA_TYPE",
	"charset.unsupported": "UNSUPPORTED_MEDIA_TYPE",
	"request.aborted": "INVALID_BODY",
	"request.size.invalid": "INVALID_BODY",
	// moleculer-web's: a path parameter that does not percent-decode.
	UNABLE_DECODE_PARAM: "INVALID_URL",
};

/**
 * The `code` of Node's zlib errors (gzip/deflate, brotli, zstd): a body that does not decompress. body-parser
 * gives them no `type`; moleculer-web wraps them as MoleculerError with this code.
 */
const DECOMPRESSION_CODE = /^(Z_|ERR__ERROR_|ZSTD_error_)/;

const MAX_TEXT = 300;
const MAX_ITEMS = 20;

/** What we read of a thrown value; anything may be missing. */
interface Thrown {
	name?: unknown;
	message?: unknown;
	code?: unknown;
	type?: unknown;
	data?: unknown;
}

/**
 * Turns anything thrown while serving a request into the HTTP error body: always a catalogue type with
 * its status, and only the `data` a client may see.
 *
 * @example
 *   toErrorBody(new Errors.RequestTimeoutError({ action: "ingest.publish", nodeID: "n1" }));
 *   // → { name: "MoleculerError", message: "No answer in time: …", code: 503, type: "OUTCOME_UNKNOWN" }
 */
export function toErrorBody(err: unknown): ErrorBody {
	const e: Thrown = typeof err === "object" && err !== null ? err : {};
	if (e.name === "ValidationError" || e.type === "VALIDATION_ERROR") {
		return catalogueBody("VALIDATION_ERROR", undefined, validationFields(e.data));
	}
	const own = ownType(e);
	if (own) return catalogueBody(own, e.message, clientData(own, e.data));
	const moleculer = lookup(MOLECULER_NAMES, e.name);
	if (moleculer) return catalogueBody(moleculer);
	const parser = lookup(BODY_PARSER_TYPES, e.type);
	if (parser) return catalogueBody(parser);
	if (typeof e.code === "string" && DECOMPRESSION_CODE.test(e.code)) return catalogueBody("INVALID_BODY");
	return catalogueBody("INTERNAL_ERROR");
}

/**
 * What ingest answers when `history.append` failed: `OUTCOME_UNKNOWN` when the request was sent but not
 * answered (a timeout, the history node left) or history itself cannot tell; `STORE_FULL` when history
 * says so; otherwise `STORE_UNAVAILABLE`, because history was not reached or answered no, so the message
 * is definitely not stored.
 *
 * @example
 *   try { result = await ctx.call("history.append", draft); }
 *   catch (err) { this.logger.warn("history.append failed:", err); throw publishFailure(err); }
 */
export function publishFailure(err: unknown): Errors.MoleculerError {
	const { type } = toErrorBody(err);
	return chatError(type === "OUTCOME_UNKNOWN" || type === "STORE_FULL" ? type : "STORE_UNAVAILABLE");
}

/** The catalogue type of an error made by chatError, here or on another node: its type has its catalogue status. */
function ownType(e: Thrown): ErrorType | undefined {
	if (typeof e.type !== "string" || !Object.hasOwn(ERROR_CATALOGUE, e.type)) return undefined;
	const type = e.type as ErrorType;
	return e.code === ERROR_CATALOGUE[type].status ? type : undefined;
}

/** Moleculer's validation details, cut to what helps a client: which field failed, how, and the rule's text. */
function validationFields(data: unknown): Record<string, string>[] | undefined {
	if (!Array.isArray(data)) return undefined;
	return data
		.slice(0, MAX_ITEMS)
		.filter(isRecord)
		.map(item => {
			const field: Record<string, string> = {};
			for (const key of ["field", "type", "message"]) {
				if (typeof item[key] === "string") field[key] = truncate(item[key]);
			}
			return field;
		});
}

/** The entry's allowed `data` keys, with bounded values; undefined when none is left. */
function clientData(type: ErrorType, data: unknown): Record<string, unknown> | undefined {
	const entry: CatalogueEntry = ERROR_CATALOGUE[type];
	if (!entry.data || !isRecord(data)) return undefined;
	const kept: Record<string, unknown> = {};
	for (const key of entry.data) {
		const value = Object.hasOwn(data, key) ? bounded(data[key], 1) : undefined;
		if (value !== undefined) kept[key] = value;
	}
	return Object.keys(kept).length > 0 ? kept : undefined;
}

/** Strings, numbers, booleans and null, and records of them up to `depth` levels: a small, plain value. */
function bounded(value: unknown, depth: number): unknown {
	if (typeof value === "string") return truncate(value);
	if (typeof value === "number" || typeof value === "boolean" || value === null) return value;
	if (depth === 0 || !isRecord(value)) return undefined;
	const kept: Record<string, unknown> = {};
	for (const [key, item] of Object.entries(value).slice(0, MAX_ITEMS)) {
		const inner = bounded(item, depth - 1);
		if (inner !== undefined) kept[truncate(key)] = inner;
	}
	return kept;
}

function catalogueBody(type: ErrorType, message?: unknown, data?: unknown): ErrorBody {
	const { status, message: defaultMessage } = ERROR_CATALOGUE[type];
	const text = typeof message === "string" && message !== "" ? truncate(message) : defaultMessage;
	const body: ErrorBody = { name: status < 500 ? "MoleculerClientError" : "MoleculerError", message: text, code: status, type };
	if (data !== undefined) body.data = data;
	return body;
}

function lookup<T>(table: Record<string, T>, key: unknown): T | undefined {
	return typeof key === "string" && Object.hasOwn(table, key) ? table[key] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function truncate(text: string): string {
	return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}
