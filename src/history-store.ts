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
	/**
	 * `message` as JSON, when the store holds it so (Redis returns the stored text): the answer and the
	 * channel bus send it as is instead of serializing the message again.
	 */
	json?: string;
	/**
	 * false: the store knows that no node but the publisher listens to the channel (no other interest
	 * mark, see `HistoryStore.markInterest`), so its channel-bus packet may be skipped. true or absent: publish.
	 */
	listened?: boolean;
}

/**
 * How long a channel's interest mark lives unless refreshed: a node that wants a channel's messages
 * refreshes its marks every INTEREST_REFRESH_MS, so a mark outlives a missed refresh or two.
 */
export const INTEREST_TTL_MS = 60_000;
/** How often a node writes the marks of every channel it still wants (one batch per period). */
export const INTEREST_REFRESH_MS = INTEREST_TTL_MS / 3;
/** Who marked a channel when the caller did not say (never a publisher's id: its appends count it as another). */
export const ANONYMOUS_LISTENER = "anonymous";

export interface HistoryPage {
	/** The channel's current epoch; "" while the channel has no counter (never had a message, or lost it). */
	epoch: string;
	/**
	 * Messages with seq > after, ascending, at most `limit`, and no more of them than fit in the store's
	 * `pageMaxBytes` (of message JSON) — but always one if there is one, so paging on with `after` = the
	 * last seq returned always progresses.
	 */
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
	/**
	 * A channel is forgotten this long after its last message: its messages and its count (the next
	 * message starts a new epoch at seq 1).
	 */
	ttlSeconds: number;
	/** A repeated clientMsgId returns the original within this window. */
	idempotencySeconds: number;
	/** Bytes of message JSON one history page may hold (at least one message always fits); default PAGE_MAX_BYTES. */
	pageMaxBytes?: number;
}

/** How full the store's memory is: Redis's `used_memory` and `maxmemory` (0 = no limit). */
export interface StoreMemory {
	usedBytes: number;
	maxBytes: number;
}

export interface HistoryStore {
	/**
	 * Numbers and stores the message atomically: afterwards it is readable and has the channel's next seq.
	 * `publisher`: the publishing node's listener id (its channel bus's `id`), whose own mark does not count.
	 */
	append(draft: MessageDraft, publisher?: string): Promise<AppendResult>;
	range(channel: string, after: number, limit: number): Promise<HistoryPage>;
	/** The epoch and last seq of each channel (`""` and 0 for a new one), in one round trip. */
	lastSeqs(channels: string[]): Promise<Record<string, ChannelHead>>;
	/**
	 * Deletes the channel's messages. seq keeps counting, so subscribers never see a seq twice, and a
	 * repeated clientMsgId still answers with the original message.
	 */
	purge(channel: string): Promise<number>;
	/**
	 * Marks these channels as listened to by `listener` (default ANONYMOUS_LISTENER) for INTEREST_TTL_MS:
	 * an append afterwards by any other publisher answers `listened: true`. Both stores keep the marks
	 * (Redis beside the channel's head, memory history in its process), expired ones dropped.
	 */
	markInterest(channels: readonly string[], listener?: string): Promise<void>;
	/** Resolves when the store can serve, with its memory state (undefined: it has no such limit); rejects otherwise. */
	ping(): Promise<StoreMemory | undefined>;
	close(): Promise<void>;
}

export const IDEMPOTENCY_SECONDS = 600;

/** Default bytes of message JSON per history page (HISTORY_PAGE_MAX_BYTES). */
export const PAGE_MAX_BYTES = 256 * 1024;

/** Above this share of maxmemory, a node reports itself not ready: publishes are about to be refused (STORE_FULL). */
export const MEMORY_PRESSURE_RATIO = 0.9;

/**
 * The readiness check of the store's memory, as `/api/ready` shows it.
 *
 * @example
 *   memoryCheck({ usedBytes: 42, maxBytes: 100 }); // { ok: true, text: "ok (42% of maxmemory)" }
 *   memoryCheck({ usedBytes: 95, maxBytes: 100 }); // { ok: false, text: "under pressure (95% of maxmemory)" }
 *   memoryCheck({ usedBytes: 95, maxBytes: 0 });   // { ok: true, text: "ok (no maxmemory)" }
 *   memoryCheck(undefined);                         // { ok: true, text: "ok (no limit)" }: the in-process store
 */
export function memoryCheck(memory: StoreMemory | undefined): { ok: boolean; text: string } {
	if (!memory) return { ok: true, text: "ok (no limit)" };
	if (memory.maxBytes <= 0) return { ok: true, text: "ok (no maxmemory)" };
	const ratio = memory.usedBytes / memory.maxBytes;
	const share = `${Math.floor(ratio * 100)}% of maxmemory`;
	return ratio < MEMORY_PRESSURE_RATIO ? { ok: true, text: `ok (${share})` } : { ok: false, text: `under pressure (${share})` };
}

/** Epochs drawn from one random block: a randomBytes call per append cost 6% of a publish's CPU. */
const EPOCH_BYTES = 9;
const EPOCH_POOL = 128;
let epochPool = Buffer.alloc(0);
let epochOffset = 0;

/** A new epoch id: 12 URL-safe characters (72 random bits), safe inside JSON and SSE without escaping. */
export function newEpoch(): string {
	if (epochOffset + EPOCH_BYTES > epochPool.length) {
		epochPool = randomBytes(EPOCH_BYTES * EPOCH_POOL);
		epochOffset = 0;
	}
	epochOffset += EPOCH_BYTES;
	return epochPool.toString("base64url", epochOffset - EPOCH_BYTES, epochOffset);
}
