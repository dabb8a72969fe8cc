/**
 * The contract both history stores keep (see test/support/history-store-contract.ts).
 *
 * A channel's position is (epoch, seq): the epoch is created with the channel's seq counter, so a
 * counter that is ever created again (the store lost or expired it) counts in a new epoch, and a
 * reader can tell "seq 3 again" from "seq 3".
 *
 * @example
 *   const { message, created } = await store.append(draft);   // message.seq = previous + 1, message.epoch = the channel's
 *   const page = await store.range(channel, 0, 50);            // oldest 50 retained, ascending, with page.epoch
 */
import { randomBytes } from "node:crypto";
import type { ChatMessage, MessageDraft } from "./message";

export interface AppendResult {
	message: ChatMessage;
	/** false when `clientMsgId` repeated within the idempotency window: `message` is the original. */
	created: boolean;
}

export interface HistoryPage {
	/** The channel's current epoch; "" while the channel has no counter (never had a message, or lost it). */
	epoch: string;
	/** Messages with seq > after, ascending, at most `limit`. */
	messages: ChatMessage[];
	/** Oldest retained seq; `lastSeq + 1` when nothing is retained. */
	oldestSeq: number;
	/** Highest seq ever assigned in the channel; 0 for a new channel. */
	lastSeq: number;
}

/** Where a channel's count stands: `{ epoch: "", lastSeq: 0 }` for a channel without a counter. */
export interface ChannelHead {
	epoch: string;
	lastSeq: number;
}

export interface HistoryStoreOptions {
	/** Messages kept per channel. */
	limit: number;
	/** Messages are dropped this long after the channel's last message. */
	ttlSeconds: number;
	/** A repeated clientMsgId returns the original within this window. */
	idempotencySeconds: number;
}

export interface HistoryStore {
	/** Numbers and stores the message atomically: afterwards it is readable and has the channel's next seq. */
	append(draft: MessageDraft): Promise<AppendResult>;
	range(channel: string, after: number, limit: number): Promise<HistoryPage>;
	/** The epoch and last seq of each channel (`""` and 0 for a new one), in one round trip. */
	lastSeqs(channels: string[]): Promise<Record<string, ChannelHead>>;
	/**
	 * Deletes the channel's messages. seq keeps counting, so subscribers never see a seq twice, and a
	 * repeated clientMsgId still answers with the original message.
	 */
	purge(channel: string): Promise<number>;
	/** Resolves when the store can serve; rejects with the reason otherwise. */
	ping(): Promise<void>;
	close(): Promise<void>;
}

export const IDEMPOTENCY_SECONDS = 600;

/** A new epoch id: 12 URL-safe characters (72 random bits), safe inside JSON and SSE without escaping. */
export function newEpoch(): string {
	return randomBytes(9).toString("base64url");
}
