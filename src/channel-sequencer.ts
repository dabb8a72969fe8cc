/**
 * One channel's delivery order on a broadcast node: where the channel stands (epoch, last seq), the
 * messages that arrived ahead of a gap, and the repair that reads the gap from history.
 *
 * It knows no sockets: it takes live messages and history pages and tells its listener, in order,
 * "deliver these" (contiguous, each once) or "reset to (epoch, oldestSeq, lastSeq)" (what follows the
 * position is gone from history, or the count restarted in a new epoch). A live message never decides
 * a reset by itself: one of another epoch only makes the sequencer re-read history, and history decides.
 *
 * @example
 *   const seq = new ChannelSequencer(channel, { deliver: ms => out.push(...ms), reset: r => resets.push(r) }, { fetchHistory });
 *   seq.learnPosition(await fetchHistory(channel, 0, 0));  // the first page read for a subscriber
 *   seq.offer(message);                                    // from the bus; a gap is held and repaired
 */
import type { ChannelHead, HistoryPage } from "./history-store";
import type { ChatMessage } from "./message";

export type FetchHistory = (channel: string, after: number, limit: number) => Promise<HistoryPage>;

/** Where a channel's stream stands on this node (same shape as a store's head). */
export type StreamPosition = ChannelHead;

/** History does not continue the position: streams start over at `oldestSeq` of `epoch`. */
export interface StreamReset {
	epoch: string;
	oldestSeq: number;
	lastSeq: number;
}

export interface SequencerListener {
	/** Messages that continue the position: contiguous, ascending, each once. */
	deliver(messages: ChatMessage[]): void;
	/** The position jumped: subscribers must be told before the messages that follow. */
	reset(reset: StreamReset): void;
}

export interface SequencerHooks {
	gapRepaired(channel: string, fromSeq: number, toSeq: number): void;
	repairFailed(channel: string, err: unknown): void;
}

export interface SequencerOptions {
	fetchHistory: FetchHistory;
	/** Messages per history request. */
	pageSize?: number;
	/** First delay before a failed (or not yet fillable) repair is tried again; doubles up to 5 s. */
	repairRetryMs?: number;
	hooks?: Partial<SequencerHooks>;
}

const MAX_REPAIR_DELAY_MS = 5000;

/**
 * True when `next` counts on from a position in `epoch`. A position without an epoch (an empty channel,
 * or one whose counter is gone) continues into whatever epoch the store creates next.
 */
export function continues(epoch: string, next: string): boolean {
	return epoch === next || epoch === "";
}

export class ChannelSequencer {
	/** Undefined until history told us where the channel stands. */
	private position: StreamPosition | undefined;
	/** Messages that arrived ahead of a gap (or before the position was known), by seq. */
	private readonly pending = new Map<number, ChatMessage>();
	private repairing = false;
	/** A re-read was asked for while one ran: it runs once more, so nothing asked for in between is missed. */
	private again = false;
	private retryTimer: NodeJS.Timeout | undefined;
	private retryDelayMs = 0;
	private closed = false;
	private readonly pageSize: number;
	private readonly repairRetryMs: number;
	private readonly hooks: Partial<SequencerHooks>;

	constructor(
		readonly channel: string,
		private readonly listener: SequencerListener,
		private readonly options: SequencerOptions,
	) {
		this.pageSize = options.pageSize ?? 500;
		this.repairRetryMs = options.repairRetryMs ?? 250;
		this.hooks = options.hooks ?? {};
	}

	/** The position, once known (read-only: it moves only through offer and repairs). */
	get current(): Readonly<StreamPosition> | undefined {
		return this.position;
	}

	/**
	 * History was read for this channel (a subscriber's first page). The first time, the page sets the
	 * position; later, a page of another epoch means this node missed a restart of the count: re-read.
	 */
	learnPosition(page: StreamPosition): void {
		if (this.position) {
			if (!continues(this.position.epoch, page.epoch)) this.resync();
			return;
		}
		this.position = { epoch: page.epoch, lastSeq: page.lastSeq };
		if (this.drainPending()) this.resync();
	}

	/**
	 * A live message. The next one is delivered at once; one ahead waits for a repair; an old one is
	 * dropped; one of another epoch makes history decide (a restarted count, or a late one of an old count).
	 */
	offer(message: ChatMessage): void {
		// Held first: drainPending delivers it, drops it (a duplicate), or asks history (a gap, another epoch).
		this.pending.set(message.seq, message);
		if (this.drainPending()) this.resync();
	}

	/** Compares a head from history with the position; repairs when history is ahead or in another epoch. */
	catchUp(head: StreamPosition): void {
		const position = this.position;
		if (position && (head.epoch !== position.epoch || head.lastSeq > position.lastSeq)) this.resync();
	}

	/**
	 * Re-reads history from the position and delivers what was missed (e.g. after a transporter reconnect).
	 * A failure, or a hole history cannot fill yet, is tried again with a growing delay.
	 */
	resync(): void {
		if (this.closed || !this.position || this.retryTimer) return;
		if (this.repairing) {
			this.again = true;
			return;
		}
		void this.repair();
	}

	/** Stops repairs and retries (the channel has no subscribers left on this node). */
	close(): void {
		this.closed = true;
		clearTimeout(this.retryTimer);
		this.retryTimer = undefined;
	}

	private async repair(): Promise<void> {
		this.repairing = true;
		try {
			do {
				this.again = false;
				await this.readHistory();
			} while (this.again && !this.closed);
			this.repairing = false;
			if (this.drainPending()) this.retryLater();
			else this.retryDelayMs = 0;
		} catch (err) {
			this.repairing = false;
			this.hooks.repairFailed?.(this.channel, err);
			this.retryLater();
		}
	}

	private retryLater(): void {
		if (this.closed) return;
		this.retryDelayMs = Math.min(Math.max(this.retryDelayMs * 2, this.repairRetryMs), MAX_REPAIR_DELAY_MS);
		this.retryTimer = setTimeout(() => {
			this.retryTimer = undefined;
			this.resync();
		}, this.retryDelayMs);
		this.retryTimer.unref();
	}

	/** Reads pages from the position until it has caught up with history. */
	private async readHistory(): Promise<void> {
		for (;;) {
			const position = this.position;
			if (!position || this.closed) return;
			const page = await this.options.fetchHistory(this.channel, position.lastSeq, this.pageSize);
			if (this.closed) return;
			// Live messages may have moved the position during the read: compare with where it is now.
			const restarted = !continues(position.epoch, page.epoch);
			const trimmed = page.oldestSeq > position.lastSeq + 1 && page.lastSeq > position.lastSeq;
			if (restarted || trimmed) {
				// What this node never delivered is gone (or was counted in another epoch): start over.
				this.pending.clear();
				this.position = { epoch: page.epoch, lastSeq: page.oldestSeq - 1 };
				this.listener.reset({ epoch: page.epoch, oldestSeq: page.oldestSeq, lastSeq: page.lastSeq });
				if (page.lastSeq < page.oldestSeq) return;
				continue;
			}
			const from = position.lastSeq;
			position.epoch = page.epoch;
			const run: ChatMessage[] = [];
			for (const message of page.messages) {
				if (message.seq !== position.lastSeq + 1) continue;
				position.lastSeq = message.seq;
				run.push(message);
			}
			if (run.length > 0) {
				this.listener.deliver(run);
				this.hooks.gapRepaired?.(this.channel, from + 1, position.lastSeq);
			}
			this.drainPending();
			if (run.length === 0 || position.lastSeq >= page.lastSeq) return;
		}
	}

	/**
	 * Delivers the waiting messages that are next in line and drops those behind the position.
	 * True when history must be read: a hole remains, or a message of another epoch arrived.
	 */
	private drainPending(): boolean {
		const position = this.position;
		if (!position) return false;
		const run: ChatMessage[] = [];
		for (let next = this.pending.get(position.lastSeq + 1); next; next = this.pending.get(position.lastSeq + 1)) {
			if (!continues(position.epoch, next.epoch)) break;
			this.pending.delete(next.seq);
			position.epoch = next.epoch;
			position.lastSeq = next.seq;
			run.push(next);
		}
		let otherEpoch = false;
		for (const [seq, message] of this.pending) {
			if (!continues(position.epoch, message.epoch)) {
				otherEpoch = true;
				this.pending.delete(seq);
			} else if (seq <= position.lastSeq) this.pending.delete(seq);
		}
		if (run.length > 0) this.listener.deliver(run);
		return otherEpoch || this.pending.size > 0;
	}
}
