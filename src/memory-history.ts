/**
 * In-memory history with the same contract as RedisHistory.
 * For development and tests only: it lives in one process, so only that process's history service sees it.
 */
import type { ChatMessage, MessageDraft } from "./message";
import {
	type AppendResult,
	type ChannelHead,
	type HistoryPage,
	type HistoryStore,
	type HistoryStoreOptions,
	newEpoch,
} from "./history-store";

interface ChannelLog {
	/** Created with the log: a new store (a restarted process) counts in a new epoch. */
	epoch: string;
	lastSeq: number;
	messages: ChatMessage[];
	expiresAt: number;
	idempotent: Map<string, { message: ChatMessage; expiresAt: number }>;
}

export class MemoryHistory implements HistoryStore {
	private readonly channels = new Map<string, ChannelLog>();

	constructor(
		private readonly options: HistoryStoreOptions,
		private readonly now: () => number = Date.now,
	) {}

	async append(draft: MessageDraft): Promise<AppendResult> {
		let log = this.current(draft.channel);
		if (!log) {
			log = { epoch: newEpoch(), lastSeq: 0, messages: [], expiresAt: 0, idempotent: new Map() };
			this.channels.set(draft.channel, log);
		}
		const now = this.now();
		// Keys are kept in insertion order with one lifetime, so the expired ones are at the front.
		for (const [key, entry] of log.idempotent) {
			if (entry.expiresAt > now) break;
			log.idempotent.delete(key);
		}
		if (draft.clientMsgId !== undefined) {
			const seen = log.idempotent.get(draft.clientMsgId);
			if (seen && seen.expiresAt > now) return { message: seen.message, created: false };
		}
		const message: ChatMessage = { seq: ++log.lastSeq, epoch: log.epoch, ...draft };
		log.messages.push(message);
		if (log.messages.length > this.options.limit) log.messages.splice(0, log.messages.length - this.options.limit);
		log.expiresAt = now + this.options.ttlSeconds * 1000;
		if (draft.clientMsgId !== undefined) {
			log.idempotent.set(draft.clientMsgId, { message, expiresAt: now + this.options.idempotencySeconds * 1000 });
		}
		return { message, created: true };
	}

	async range(channel: string, after: number, limit: number): Promise<HistoryPage> {
		const log = this.current(channel);
		if (!log) return { epoch: "", messages: [], oldestSeq: 1, lastSeq: 0 };
		const oldestSeq = log.messages[0]?.seq ?? log.lastSeq + 1;
		const start = Math.max(0, after + 1 - oldestSeq);
		return { epoch: log.epoch, messages: log.messages.slice(start, start + limit), oldestSeq, lastSeq: log.lastSeq };
	}

	async lastSeqs(channels: string[]): Promise<Record<string, ChannelHead>> {
		return Object.fromEntries(
			channels.map(channel => {
				const log = this.channels.get(channel);
				return [channel, { epoch: log?.epoch ?? "", lastSeq: log?.lastSeq ?? 0 }];
			}),
		);
	}

	async purge(channel: string): Promise<number> {
		const log = this.current(channel);
		const count = log?.messages.length ?? 0;
		if (log) log.messages = [];
		return count;
	}

	async ping(): Promise<void> {}

	async close(): Promise<void> {
		this.channels.clear();
	}

	/** The channel's log, if it has one, with expired messages dropped (seq survives, as in Redis). Reads create nothing. */
	private current(channel: string): ChannelLog | undefined {
		const log = this.channels.get(channel);
		if (log && log.messages.length > 0 && log.expiresAt <= this.now()) log.messages = [];
		return log;
	}
}
