/**
 * The chat message model and the validation of what clients send.
 *
 * @example
 *   const draft = createDraft({ channel: "C3743620-…", text: "hi" }, { maxMessageBytes: 4096 });
 *   // → { id: "0193…", channel: "c3743620-…", author: "anonymous", text: "hi", sentAt: "2026-…Z" }
 */
import { v7 as uuidv7, validate as isUuid } from "uuid";
import type { StreamUser } from "./contract";
import { chatError } from "./errors";
import { isSafeName, textProblem } from "./text-rules";

/** A stored message, as the API returns it and the SSE stream sends it. */
export interface ChatMessage {
	/** Time-ordered UUID v7. */
	id: string;
	/** Position in the channel: 1, 2, 3, … without gaps; the SSE event id. */
	seq: number;
	/** The count `seq` belongs to: a channel whose count restarts gets a new epoch (see history-store.ts). */
	epoch: string;
	/** Lower-case UUID. */
	channel: string;
	author: string;
	/** The authenticated publisher's id (the token's `sub`); absent when auth is off or for the operator REPL. */
	userId?: string;
	text: string;
	/** ISO-8601 time the message was accepted. */
	sentAt: string;
	/** The client's idempotency key, when it sent one. */
	clientMsgId?: string;
}

/** A validated message before the store gives it a seq and an epoch. */
export type MessageDraft = Omit<ChatMessage, "seq" | "epoch">;

/** What a client may send. */
export interface PublishInput {
	channel: string;
	text: unknown;
	author?: unknown;
	clientMsgId?: unknown;
}

export const DEFAULT_AUTHOR = "anonymous";
/** The operator REPL's author (maintenance notices): no HTTP publish may appear as it. */
export const RESERVED_AUTHOR = "system";
const MAX_AUTHOR_LENGTH = 64;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const CLIENT_MSG_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Whether an author would read as the reserved `system` (any case, surrounding space ignored).
 *
 * @example
 *   isReservedAuthor(" System "); // true
 */
export function isReservedAuthor(author: unknown): boolean {
	return typeof author === "string" && author.trim().toLowerCase() === RESERVED_AUTHOR;
}

/** Validates a channel id and returns it lower-cased; throws INVALID_CHANNEL. */
export function parseChannel(channel: unknown): string {
	if (typeof channel !== "string" || !isUuid(channel)) throw chatError("INVALID_CHANNEL", { channel: String(channel) });
	return channel.toLowerCase();
}

/**
 * Whether a name may be an author: 1-64 visible characters without control, bidi-control, zero-width or
 * separator characters (already trimmed).
 *
 * @example
 *   isValidAuthor("ada"); // true
 *   isValidAuthor("");    // false
 */
export function isValidAuthor(author: string): boolean {
	return author !== "" && [...author].length <= MAX_AUTHOR_LENGTH && !CONTROL_CHARS.test(author) && isSafeName(author);
}

/**
 * Validates client input and builds the draft the history store will number. With an authenticated
 * `user`, the author is the user's name and `userId` the user's id, whatever the input says.
 */
export function createDraft(
	input: PublishInput,
	limits: { maxMessageBytes: number },
	now = new Date(),
	user?: StreamUser,
): MessageDraft {
	const channel = parseChannel(input.channel);

	if (typeof input.text !== "string") throw chatError("EMPTY_MESSAGE");
	const problem = textProblem(input.text);
	if (problem === "empty") throw chatError("EMPTY_MESSAGE");
	if (problem) throw chatError("INVALID_TEXT");
	const bytes = Buffer.byteLength(input.text, "utf8");
	if (bytes > limits.maxMessageBytes) {
		throw chatError(
			"MESSAGE_TOO_LARGE",
			{ bytes, maxBytes: limits.maxMessageBytes },
			`The message text is ${bytes} bytes; the limit is ${limits.maxMessageBytes}.`,
		);
	}

	let author = DEFAULT_AUTHOR;
	if (user) author = user.name;
	else if (input.author !== undefined && input.author !== null && input.author !== "") {
		if (typeof input.author !== "string") throw chatError("INVALID_AUTHOR");
		author = input.author.trim();
		if (!isValidAuthor(author)) throw chatError("INVALID_AUTHOR");
	}

	const draft: MessageDraft = user
		? { id: uuidv7(), channel, author, userId: user.userId, text: input.text, sentAt: now.toISOString() }
		: { id: uuidv7(), channel, author, text: input.text, sentAt: now.toISOString() };
	if (input.clientMsgId !== undefined && input.clientMsgId !== null) {
		if (typeof input.clientMsgId !== "string" || !CLIENT_MSG_ID.test(input.clientMsgId)) throw chatError("INVALID_CLIENT_MSG_ID");
		draft.clientMsgId = input.clientMsgId;
	}
	return draft;
}

/** The message as the original system's client reads it (`GET /chat/receive/:channel`). */
export function toLegacyMessage(message: ChatMessage): { id: string; userId: string; message: string } {
	return { id: message.id, userId: message.author, message: message.text };
}

/**
 * Where a stream resumes: after `seq`, counted in `epoch`. The ids streams send are `<epoch>.<seq>`, so a
 * client coming back after the channel's count restarted is told (a reset) instead of skipping the new
 * count's first messages; a bare `<seq>` (older clients) is taken to be of the current count.
 */
export interface ResumePoint {
	seq: number;
	epoch?: string;
}

/**
 * `<seq>` or `<epoch>.<seq>`, the epoch as `newEpoch()` (history-store.ts) makes them: 12 base64url characters
 * (groups: epoch, seq). Also the `lastEventId` of a plain stream URL (src/stream-route.ts).
 */
export const EVENT_ID = /(?:([0-9A-Za-z_-]{12})\.)?(\d{1,15})/;
const LAST_EVENT_ID = new RegExp(`^${EVENT_ID.source}$`);

/** Parses a Last-Event-ID (header or query); undefined when absent. Throws INVALID_LAST_EVENT_ID. */
export function parseLastEventId(value: unknown): ResumePoint | undefined {
	if (value === undefined || value === null || value === "") return undefined;
	const match = LAST_EVENT_ID.exec(String(value).trim());
	if (!match) throw chatError("INVALID_LAST_EVENT_ID", { lastEventId: String(value).slice(0, 64) });
	const seq = Number(match[2]);
	return match[1] === undefined ? { seq } : { seq, epoch: match[1] };
}
