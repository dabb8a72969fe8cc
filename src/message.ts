/**
 * The chat message model and the validation of what clients send.
 *
 * @example
 *   const draft = createDraft({ channel: "C3743620-…", text: "hi" }, { maxMessageBytes: 4096 });
 *   // → { id: "0193…", channel: "c3743620-…", author: "anonymous", text: "hi", sentAt: "2026-…Z" }
 */
import { v7 as uuidv7, validate as isUuid } from "uuid";
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
const MAX_AUTHOR_LENGTH = 64;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const CLIENT_MSG_ID = /^[\x21-\x7e]{1,128}$/;

/** Validates a channel id and returns it lower-cased; throws INVALID_CHANNEL. */
export function parseChannel(channel: unknown): string {
	if (typeof channel !== "string" || !isUuid(channel)) throw chatError("INVALID_CHANNEL", { channel: String(channel) });
	return channel.toLowerCase();
}

/** Validates client input and builds the draft the history store will number. */
export function createDraft(input: PublishInput, limits: { maxMessageBytes: number }, now = new Date()): MessageDraft {
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
	if (input.author !== undefined && input.author !== null && input.author !== "") {
		if (typeof input.author !== "string") throw chatError("INVALID_AUTHOR");
		author = input.author.trim();
		if (author === "" || [...author].length > MAX_AUTHOR_LENGTH || CONTROL_CHARS.test(author) || !isSafeName(author)) {
			throw chatError("INVALID_AUTHOR");
		}
	}

	const draft: MessageDraft = { id: uuidv7(), channel, author, text: input.text, sentAt: now.toISOString() };
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

/** Parses a Last-Event-ID (header or query); undefined when absent. Throws INVALID_LAST_EVENT_ID. */
export function parseLastEventId(value: unknown): number | undefined {
	if (value === undefined || value === null || value === "") return undefined;
	const text = String(value).trim();
	if (!/^\d{1,15}$/.test(text)) throw chatError("INVALID_LAST_EVENT_ID", { lastEventId: String(value).slice(0, 64) });
	return Number(text);
}
