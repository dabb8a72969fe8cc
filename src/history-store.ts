/**
 * The contract both history stores keep (see test/unit/history-store.contract.ts).
 *
 * @example
 *   const { message, created } = await store.append(draft);   // message.seq = previous + 1
 *   const page = await store.range(channel, 0, 50);            // oldest 50 retained, ascending
 */
import type { ChatMessage, MessageDraft } from "./message";

export interface AppendResult {
	message: ChatMessage;
	/** false when `clientMsgId` repeated within the idempotency window: `message` is the original. */
	created: boolean;
}

export interface HistoryPage {
	/** Messages with seq > after, ascending, at most `limit`. */
	messages: ChatMessage[];
	/** Oldest retained seq; `lastSeq + 1` when nothing is retained. */
	oldestSeq: number;
	/** Highest seq ever assigned in the channel; 0 for a new channel. */
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
	/** The last seq of each channel (0 for a new one), in one round trip. */
	lastSeqs(channels: string[]): Promise<Record<string, number>>;
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
