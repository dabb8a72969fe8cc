/**
 * In-memory history with the same contract as RedisHistory.
 * For development and tests only: it lives in one process, so only that process's history service sees it.
 *
 * Its memory is bounded like a Redis with `maxmemory` and `noeviction`: once the retained messages' JSON
 * reaches `maxBytes`, appends are refused (`StoreFull` → 503 STORE_FULL) until messages expire or are trimmed.
 *
 * Like Redis's keys, a channel is forgotten `ttlSeconds` after its last message. No timer per channel:
 * the map is kept in order of last message, so the expired channels are at its front, and every append
 * and read drops a few of them (bounded work per call) besides the channel it touches.
 *
 * Interest marks (`markInterest`) work as Redis's: per channel, listener → expiry (now + INTEREST_TTL_MS),
 * so an append tells whether a node other than the publisher listens (`listened`), and the embedded
 * default sends no bus packet that would only come back to its own node. Another node or the REPL that
 * joins the embedded broker marks through `history.interest` like any node. Bounded the same way as the
 * channels: the marked channels are kept in order of last mark (so the expired ones are at the front),
 * every mark and append drops a few expired ones, and a channel's expired listeners go when it is touched.
 * So the entries held never exceed the channels marked within the last TTL (which the streams' limits
 * bound), times the nodes that marked them.
 *
 * @example
 *   const store = new MemoryHistory({ limit: 1000, ttlSeconds: 86400, idempotencySeconds: 600, maxBytes: 64 * 2 ** 20 });
 */
import type { ChatMessage, MessageDraft } from "./message";
import {
	ANONYMOUS_LISTENER,
	type AppendResult,
	type ChannelHead,
	type HistoryPage,
	type HistoryStore,
	type HistoryStoreOptions,
	INTEREST_TTL_MS,
	newEpoch,
	PAGE_MAX_BYTES,
} from "./history-store";
import { StoreFull } from "./store-errors";

export interface MemoryHistoryOptions extends HistoryStoreOptions {
	/** Bytes of retained message JSON over all channels; appends beyond it are refused. Default 64 MiB. */
	maxBytes?: number;
}

/** The default bound of a MemoryHistory (the embedded default's history). */
export const MEMORY_HISTORY_MAX_BYTES = 64 * 2 ** 20;

interface ChannelLog {
	/** Created with the log: a new store (a restarted process) or a forgotten channel counts in a new epoch. */
	epoch: string;
	lastSeq: number;
	messages: ChatMessage[];
	/** JSON bytes of `messages`, counted in the store's total. */
	bytes: number;
	expiresAt: number;
	idempotent: Map<string, { message: ChatMessage; expiresAt: number }>;
}

/** A channel's interest marks: listener → expiry, in order of expiry (a mark moves its listener to the end). */
interface ChannelMarks {
	/** The newest listener's expiry: the whole entry is gone after it. */
	expiresAt: number;
	listeners: Map<string, number>;
}

export class MemoryHistory implements HistoryStore {
	/** In order of last message (an append moves its channel to the end). */
	private readonly channels = new Map<string, ChannelLog>();
	/** JSON bytes retained over all channels. */
	private bytes = 0;
	/** Interest marks per channel, in order of last mark (a mark moves its channel to the end). */
	private readonly marks = new Map<string, ChannelMarks>();

	constructor(
		private readonly options: MemoryHistoryOptions,
		private readonly now: () => number = Date.now,
	) {}

	/** `publisher`: the publishing node's listener id ("" unknown), whose own mark does not make the channel listened. */
	async append(draft: MessageDraft, publisher = ""): Promise<AppendResult> {
		const now = this.now();
		const listened = this.listened(draft.channel, publisher, now);
		const log: ChannelLog = this.current(draft.channel) ?? {
			epoch: newEpoch(),
			lastSeq: 0,
			messages: [],
			bytes: 0,
			expiresAt: 0,
			idempotent: new Map(),
		};
		// Keys are kept in insertion order with one lifetime, so the expired ones are at the front.
		for (const [key, entry] of log.idempotent) {
			if (entry.expiresAt > now) break;
			log.idempotent.delete(key);
		}
		if (draft.clientMsgId !== undefined) {
			const seen = log.idempotent.get(draft.clientMsgId);
			if (seen && seen.expiresAt > now) return { message: seen.message, created: false, listened };
		}
		const size = Buffer.byteLength(JSON.stringify(draft)) + SEQ_AND_EPOCH_BYTES;
		if (this.bytes + size > (this.options.maxBytes ?? MEMORY_HISTORY_MAX_BYTES)) throw new StoreFull();
		const message: ChatMessage = { seq: ++log.lastSeq, epoch: log.epoch, ...draft };
		log.messages.push(message);
		this.count(log, size);
		if (log.messages.length > this.options.limit) {
			for (const old of log.messages.splice(0, log.messages.length - this.options.limit)) this.count(log, -sizeOf(old));
		}
		log.expiresAt = now + this.options.ttlSeconds * 1000;
		this.channels.delete(draft.channel);
		this.channels.set(draft.channel, log);
		if (draft.clientMsgId !== undefined) {
			log.idempotent.set(draft.clientMsgId, { message, expiresAt: now + this.options.idempotencySeconds * 1000 });
		}
		return { message, created: true, listened };
	}

	/**
	 * Marks channels as listened to by `listener` until now + INTEREST_TTL_MS; drops the listeners (and
	 * channels) whose marks expired, a few per channel marked besides the channel itself.
	 *
	 * @example
	 *   await store.markInterest([channel], bus.id);
	 *   (await store.append(draft, otherBus.id)).listened; // true
	 */
	async markInterest(channels: readonly string[], listener = ANONYMOUS_LISTENER): Promise<void> {
		const now = this.now();
		for (const channel of channels) {
			const marks = this.liveMarks(channel, now) ?? { expiresAt: 0, listeners: new Map() };
			marks.expiresAt = now + INTEREST_TTL_MS;
			marks.listeners.delete(listener);
			marks.listeners.set(listener, marks.expiresAt);
			this.marks.delete(channel);
			this.marks.set(channel, marks);
		}
	}

	async range(channel: string, after: number, limit: number): Promise<HistoryPage> {
		const log = this.current(channel);
		if (!log) return { epoch: "", messages: [], oldestSeq: 1, lastSeq: 0 };
		const oldestSeq = log.messages[0]?.seq ?? log.lastSeq + 1;
		const start = Math.max(0, after + 1 - oldestSeq);
		const messages = withinBytes(log.messages.slice(start, start + limit), this.options.pageMaxBytes ?? PAGE_MAX_BYTES);
		return { epoch: log.epoch, messages, oldestSeq, lastSeq: log.lastSeq };
	}

	async lastSeqs(channels: string[]): Promise<Record<string, ChannelHead>> {
		return Object.fromEntries(
			channels.map(channel => {
				const log = this.current(channel);
				return [channel, { epoch: log?.epoch ?? "", lastSeq: log?.lastSeq ?? 0 }];
			}),
		);
	}

	async purge(channel: string): Promise<number> {
		const log = this.current(channel);
		const count = log?.messages.length ?? 0;
		if (log) {
			this.count(log, -log.bytes);
			log.messages = [];
		}
		return count;
	}

	async ping(): Promise<undefined> {
		return undefined;
	}

	async close(): Promise<void> {
		this.channels.clear();
		this.marks.clear();
		this.bytes = 0;
	}

	/** Retained JSON bytes over all channels (for tests and metrics). */
	get retainedBytes(): number {
		return this.bytes;
	}

	/** Whether a listener other than `publisher` holds a live mark of the channel (as Redis's append script answers). */
	private listened(channel: string, publisher: string, now: number): boolean {
		const listeners = this.liveMarks(channel, now)?.listeners;
		return listeners !== undefined && (listeners.size > 1 || !listeners.has(publisher));
	}

	/**
	 * The channel's live marks, its expired listeners dropped (undefined, and the entry gone, when none is
	 * left); drops a few other expired channels' entries.
	 */
	private liveMarks(channel: string, now: number): ChannelMarks | undefined {
		let swept = 0;
		for (const [name, marks] of this.marks) {
			if (swept === SWEEP_PER_CALL || marks.expiresAt > now) break;
			this.marks.delete(name);
			swept++;
		}
		const marks = this.marks.get(channel);
		if (!marks) return undefined;
		if (marks.expiresAt <= now) {
			this.marks.delete(channel);
			return undefined;
		}
		for (const [listener, expiresAt] of marks.listeners) {
			if (expiresAt > now) break;
			marks.listeners.delete(listener);
		}
		return marks;
	}

	private count(log: ChannelLog, bytes: number): void {
		log.bytes += bytes;
		this.bytes += bytes;
	}

	private forget(channel: string, log: ChannelLog): void {
		this.channels.delete(channel);
		this.bytes -= log.bytes;
	}

	/** The channel's log, unless it has none or it expired (then it is forgotten); drops a few other expired ones. Reads create nothing. */
	private current(channel: string): ChannelLog | undefined {
		const now = this.now();
		let swept = 0;
		for (const [name, log] of this.channels) {
			if (swept === SWEEP_PER_CALL || log.expiresAt > now) break;
			this.forget(name, log);
			swept++;
		}
		const log = this.channels.get(channel);
		if (log && log.expiresAt <= now) {
			this.forget(channel, log);
			return undefined;
		}
		return log;
	}
}

/** `"seq":…,"epoch":"…",` that the store adds to a draft's JSON (12-character epoch, seq up to 15 digits). */
const SEQ_AND_EPOCH_BYTES = 48;

function sizeOf(message: ChatMessage): number {
	const { seq: _seq, epoch: _epoch, ...draft } = message;
	return Buffer.byteLength(JSON.stringify(draft)) + SEQ_AND_EPOCH_BYTES;
}

/** Expired channels dropped per call, besides the one asked for: more than one, so the map shrinks faster than it grows. */
const SWEEP_PER_CALL = 8;

/** The first messages whose JSON fits in `maxBytes` together; at least one, so paging always progresses. */
function withinBytes(messages: ChatMessage[], maxBytes: number): ChatMessage[] {
	let bytes = 0;
	for (let i = 0; i < messages.length; i++) {
		bytes += Buffer.byteLength(JSON.stringify(messages[i]));
		if (bytes > maxBytes && i > 0) return messages.slice(0, i);
	}
	return messages;
}
