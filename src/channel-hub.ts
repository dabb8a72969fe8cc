/**
 * The broadcast node's subscriber registry and delivery loop.
 *
 * Per channel it remembers the last seq delivered and keeps delivery contiguous: an event that jumps
 * ahead waits while the missing seqs are fetched from history (gap repair). A new subscriber is
 * registered first and answered from history second, so nothing that arrives meanwhile is lost; its
 * own `lastSeq` then filters what it already has, so nothing is sent twice.
 * Each message is framed once per stream format; every subscriber of the channel gets the same bytes,
 * coalesced per tick.
 *
 * @example
 *   const hub = new ChannelHub({ fetchHistory: (c, after, limit) => broker.call("history.range", { channel: c, after, limit }) });
 *   await hub.subscribe(channel, res, { lastEventId: 41 });   // replays 42…, then live
 *   hub.deliver(message);                                     // from the "chat.message" event
 */
import type { ChatMessage } from "./message";
import { toLegacyMessage } from "./message";
import type { HistoryPage } from "./history-store";
import { sseComment, sseEvent, sseRetry } from "./sse-frame";

/** What the hub needs of an HTTP response. */
export interface SseSink {
	write(chunk: Buffer | string): boolean;
	end(): void;
	destroy(): void;
	readonly writableLength: number;
	readonly destroyed: boolean;
	once(event: "close", listener: () => void): unknown;
}

/** `chatcast`: `event: message` with the message JSON; `legacy`: the original system's `{ id, userId, message }`. */
export type StreamFormat = "chatcast" | "legacy";

export type FetchHistory = (channel: string, after: number, limit: number) => Promise<HistoryPage>;

export interface ChannelHubOptions {
	fetchHistory: FetchHistory;
	/** Messages per history request (replay, repair). */
	pageSize?: number;
	/** A subscriber whose unsent bytes exceed this is disconnected; it resumes with Last-Event-ID. */
	maxBufferedBytes?: number;
	/** First delay before a failed repair is tried again (doubles, up to 5 s). */
	repairRetryMs?: number;
	/** Observers, for logs and metrics. */
	hooks?: Partial<ChannelHubHooks>;
}

export interface ChannelHubHooks {
	delivered(message: ChatMessage, subscribers: number): void;
	gapRepaired(channel: string, fromSeq: number, toSeq: number): void;
	repairFailed(channel: string, err: unknown): void;
	slowSubscriberDropped(channel: string): void;
	subscribersChanged(channel: string, count: number): void;
}

export interface SubscribeOptions {
	/** Replay everything after this seq first. */
	lastEventId?: number;
	format?: StreamFormat;
	/** Written once the subscriber is registered and history answered (headers, retry hint). */
	onOpen?: () => void;
}

class Subscriber {
	/** Highest seq this subscriber has been sent. */
	lastSeq = 0;
	/** While joining: live messages that arrived before its replay finished. */
	queue: ChatMessage[] | null = [];

	constructor(
		readonly sink: SseSink,
		readonly format: StreamFormat,
	) {}
}

class ChannelFeed {
	/** Highest seq delivered on this node; undefined until history told us where the channel stands. */
	lastDelivered: number | undefined;
	readonly subscribers = new Set<Subscriber>();
	/** Messages that arrived ahead of a gap, waiting for the repair. */
	readonly pending = new Map<number, ChatMessage>();
	/** Delivered this tick, not yet written. */
	outbox: ChatMessage[] = [];
	repairing = false;
	/** sentAt of the last delivered message: a lower seq that is newer means the store restarted its count. */
	lastSentAt = "";

	constructor(readonly channel: string) {}
}

const MAX_REPAIR_DELAY_MS = 5000;

export class ChannelHub {
	private readonly feeds = new Map<string, ChannelFeed>();
	private readonly pageSize: number;
	private readonly maxBufferedBytes: number;
	private readonly repairRetryMs: number;
	private readonly hooks: Partial<ChannelHubHooks>;
	private flushScheduled = false;
	private readonly dirty = new Set<ChannelFeed>();
	private closed = false;
	private subscriberTotal = 0;

	constructor(private readonly options: ChannelHubOptions) {
		this.pageSize = options.pageSize ?? 500;
		this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
		this.repairRetryMs = options.repairRetryMs ?? 250;
		this.hooks = options.hooks ?? {};
	}

	/**
	 * Registers a stream, replays what it missed, then keeps it live until the sink closes.
	 * Rejects (and registers nothing) when history cannot answer; nothing has been written then.
	 */
	async subscribe(channel: string, sink: SseSink, options: SubscribeOptions = {}): Promise<void> {
		if (this.closed) throw new Error("ChannelHub is closed");
		const feed = this.feed(channel);
		const sub = new Subscriber(sink, options.format ?? "chatcast");
		feed.subscribers.add(sub);
		this.subscriberTotal++;
		const forget = (): void => this.remove(feed, sub);
		sink.once("close", forget);

		let first: HistoryPage;
		const after = options.lastEventId;
		try {
			first = await this.options.fetchHistory(channel, after ?? 0, after === undefined ? 0 : this.pageSize);
		} catch (err) {
			forget();
			throw err;
		}
		if (sink.destroyed) return forget();
		this.hooks.subscribersChanged?.(channel, feed.subscribers.size);
		options.onOpen?.();
		if (feed.lastDelivered === undefined) this.start(feed, first.lastSeq);

		if (after === undefined) {
			sub.lastSeq = Math.max(first.lastSeq, feed.lastDelivered ?? 0);
		} else {
			await this.replay(feed, sub, after, first);
		}
		this.goLive(sub);
	}

	/** Takes a `chat.message` event. Messages for channels without local subscribers are ignored. */
	deliver(message: ChatMessage): void {
		const feed = this.feeds.get(message.channel);
		if (!feed) return;
		if (feed.lastDelivered === undefined) {
			feed.pending.set(message.seq, message);
			return;
		}
		if (message.seq <= feed.lastDelivered) {
			// A duplicate, unless it is newer than anything delivered: then the store's count restarted.
			if (message.sentAt > feed.lastSentAt) this.repair(feed);
			return;
		}
		if (message.seq === feed.lastDelivered + 1) {
			this.accept(feed, message);
			this.drainPending(feed);
		} else {
			feed.pending.set(message.seq, message);
			this.repair(feed);
		}
	}

	/** Re-reads every served channel from history: after a transporter reconnect, packets may be lost. */
	resyncAll(): void {
		for (const feed of this.feeds.values()) if (feed.lastDelivered !== undefined) this.repair(feed);
	}

	/** Channels served here (whose position is known), for a `heads` check. */
	servedChannels(): string[] {
		return [...this.feeds.values()].filter(feed => feed.lastDelivered !== undefined).map(feed => feed.channel);
	}

	/**
	 * Compares history's last seq per channel with what was delivered here and repairs what is behind:
	 * catches a lost packet even when no later message reveals the gap.
	 */
	catchUp(heads: Record<string, number>): void {
		for (const [channel, lastSeq] of Object.entries(heads)) {
			const feed = this.feeds.get(channel);
			if (feed?.lastDelivered !== undefined && lastSeq !== feed.lastDelivered) this.repair(feed);
		}
	}

	/** A comment on every stream, so idle connections stay open through proxies. */
	heartbeat(): void {
		const frame = Buffer.from(sseComment());
		for (const feed of this.feeds.values()) {
			for (const sub of feed.subscribers) if (sub.queue === null) this.write(feed, sub, frame);
		}
	}

	/** Subscriber count per channel on this node, most subscribed first. */
	stats(): Array<{ channel: string; subscribers: number }> {
		return [...this.feeds.values()]
			.map(feed => ({ channel: feed.channel, subscribers: feed.subscribers.size }))
			.sort((a, b) => b.subscribers - a.subscribers || a.channel.localeCompare(b.channel));
	}

	subscriberCount(channel: string): number {
		return this.feeds.get(channel)?.subscribers.size ?? 0;
	}

	/** True once closeAll ran: no new streams. */
	get isClosed(): boolean {
		return this.closed;
	}

	/** Streams open on this node, all channels. */
	get totalSubscribers(): number {
		return this.subscriberTotal;
	}

	/** Sends an event of another type (e.g. presence) to every live subscriber of a channel. */
	notify(channel: string, event: string, data: unknown): void {
		const feed = this.feeds.get(channel);
		if (!feed) return;
		const frame = Buffer.from(sseEvent({ event, data: JSON.stringify(data) }));
		for (const sub of feed.subscribers) if (sub.queue === null && sub.format === "chatcast") this.write(feed, sub, frame);
	}

	/** Ends every stream with a short retry hint, so clients come back (to another node) at once. */
	closeAll(retryMs: number): void {
		this.closed = true;
		this.flush();
		const goodbye = Buffer.from(sseRetry(retryMs));
		for (const feed of this.feeds.values()) {
			for (const sub of feed.subscribers) {
				if (!sub.sink.destroyed) {
					sub.sink.write(goodbye);
					sub.sink.end();
				}
			}
			feed.subscribers.clear();
		}
		this.feeds.clear();
		this.subscriberTotal = 0;
	}

	private feed(channel: string): ChannelFeed {
		let feed = this.feeds.get(channel);
		if (!feed) {
			feed = new ChannelFeed(channel);
			this.feeds.set(channel, feed);
		}
		return feed;
	}

	private remove(feed: ChannelFeed, sub: Subscriber): void {
		if (!feed.subscribers.delete(sub)) return;
		this.subscriberTotal--;
		this.hooks.subscribersChanged?.(feed.channel, feed.subscribers.size);
		if (feed.subscribers.size === 0 && this.feeds.get(feed.channel) === feed) this.feeds.delete(feed.channel);
	}

	/** History told us where the channel stands: deliver what waited, repair if there is a hole. */
	private start(feed: ChannelFeed, lastSeq: number): void {
		feed.lastDelivered = lastSeq;
		this.drainPending(feed);
	}

	/**
	 * Writes the history after `after`, page by page, until the subscriber has everything this node
	 * has delivered so far (later messages wait in its queue).
	 */
	private async replay(feed: ChannelFeed, sub: Subscriber, after: number, first: HistoryPage): Promise<void> {
		const channel = feed.channel;
		let page = first;
		// Messages were missed (trimmed or expired), or the id is from before the store restarted its count.
		if (after + 1 < first.oldestSeq || after > first.lastSeq) {
			this.writeFrame(
				sub,
				sseEvent({ event: "reset", data: JSON.stringify({ oldestSeq: first.oldestSeq, lastSeq: first.lastSeq }) }),
			);
			sub.lastSeq = first.oldestSeq - 1;
			if (after > first.lastSeq) page = await this.options.fetchHistory(channel, sub.lastSeq, this.pageSize);
		} else {
			sub.lastSeq = after;
		}
		for (;;) {
			for (const message of page.messages) {
				if (message.seq > sub.lastSeq) {
					this.writeFrame(sub, frame(message, sub.format));
					sub.lastSeq = message.seq;
				}
			}
			const target = Math.max(page.lastSeq, feed.lastDelivered ?? 0);
			if (sub.lastSeq >= target || page.messages.length === 0 || sub.sink.destroyed) return;
			page = await this.options.fetchHistory(channel, sub.lastSeq, this.pageSize);
		}
	}

	/** Sends what arrived during the replay, then the subscriber takes the shared path. */
	private goLive(sub: Subscriber): void {
		const queued = sub.queue ?? [];
		sub.queue = null;
		for (const message of queued) {
			if (message.seq > sub.lastSeq) {
				this.writeFrame(sub, frame(message, sub.format));
				sub.lastSeq = message.seq;
			}
		}
	}

	private accept(feed: ChannelFeed, message: ChatMessage): void {
		feed.lastDelivered = message.seq;
		feed.lastSentAt = message.sentAt;
		for (const sub of feed.subscribers) sub.queue?.push(message);
		feed.outbox.push(message);
		this.dirty.add(feed);
		if (!this.flushScheduled) {
			this.flushScheduled = true;
			setImmediate(() => this.flush());
		}
	}

	/** Delivers waiting messages that are next in line; a hole left behind starts a repair. */
	private drainPending(feed: ChannelFeed, repairHoles = true): void {
		if (feed.lastDelivered === undefined) return;
		for (let next = feed.pending.get(feed.lastDelivered + 1); next; next = feed.pending.get(feed.lastDelivered + 1)) {
			feed.pending.delete(next.seq);
			this.accept(feed, next);
		}
		for (const seq of feed.pending.keys()) if (seq <= feed.lastDelivered) feed.pending.delete(seq);
		if (repairHoles && feed.pending.size > 0) this.repair(feed);
	}

	/**
	 * Fetches what this node missed, in order, until it has caught up with history.
	 * A failure, or a hole history cannot fill yet, is tried again with a growing delay.
	 */
	private repair(feed: ChannelFeed, delayMs = 0): void {
		if (feed.repairing || this.closed) return;
		feed.repairing = true;
		const retry = (): void => {
			if (this.feeds.get(feed.channel) === feed)
				this.repair(feed, Math.min(Math.max(delayMs * 2, this.repairRetryMs), MAX_REPAIR_DELAY_MS));
		};
		const run = async (): Promise<void> => {
			try {
				let progressed = true;
				while (progressed && this.feeds.get(feed.channel) === feed) {
					const from = feed.lastDelivered ?? 0;
					const page = await this.options.fetchHistory(feed.channel, from, this.pageSize);
					progressed = this.applyRepairPage(feed, page, from);
				}
				feed.repairing = false;
				this.drainPending(feed, false);
				if (feed.pending.size > 0) retry();
			} catch (err) {
				feed.repairing = false;
				this.hooks.repairFailed?.(feed.channel, err);
				retry();
			}
		};
		if (delayMs > 0) setTimeout(() => void run(), delayMs).unref();
		else void run();
	}

	/** Applies one page of a repair; true when it moved forward and more may follow. */
	private applyRepairPage(feed: ChannelFeed, page: HistoryPage, from: number): boolean {
		if (page.lastSeq < from || (page.oldestSeq > from + 1 && page.lastSeq > from)) {
			// Messages this node never delivered are gone from history (or the count restarted):
			// say so on every stream, then continue from what history still has.
			this.flush();
			const reset = sseEvent({ event: "reset", data: JSON.stringify({ oldestSeq: page.oldestSeq, lastSeq: page.lastSeq }) });
			for (const sub of feed.subscribers) {
				if (sub.queue !== null)
					sub.sink.destroy(); // mid-replay: it reconnects and replays afresh
				else {
					this.writeFrame(sub, reset);
					sub.lastSeq = page.oldestSeq - 1;
				}
			}
			feed.lastDelivered = page.oldestSeq - 1;
			feed.lastSentAt = "";
			feed.pending.clear();
			return page.lastSeq >= page.oldestSeq;
		}
		const before = feed.lastDelivered ?? from;
		for (const message of page.messages) if (message.seq === (feed.lastDelivered ?? from) + 1) this.accept(feed, message);
		const after = feed.lastDelivered ?? from;
		if (after > before) this.hooks.gapRepaired?.(feed.channel, before + 1, after);
		return after > before && after < page.lastSeq;
	}

	/** Writes each dirty channel's outbox: framed once per format, one write per subscriber. */
	private flush(): void {
		this.flushScheduled = false;
		for (const feed of this.dirty) {
			const batch = feed.outbox;
			feed.outbox = [];
			if (batch.length === 0) continue;
			const last = batch[batch.length - 1].seq;
			const frames: Partial<Record<StreamFormat, Buffer[]>> = {};
			const whole: Partial<Record<StreamFormat, Buffer>> = {};
			let reached = 0;
			for (const sub of feed.subscribers) {
				if (sub.queue !== null || sub.lastSeq >= last) continue;
				const parts = (frames[sub.format] ??= batch.map(m => Buffer.from(frame(m, sub.format))));
				// Normally the subscriber has everything before the batch; after a replay it may have part of it.
				const skip = batch.findIndex(m => m.seq > sub.lastSeq);
				const bytes = skip === 0 ? (whole[sub.format] ??= Buffer.concat(parts)) : Buffer.concat(parts.slice(skip));
				this.write(feed, sub, bytes);
				sub.lastSeq = last;
				reached++;
			}
			for (const message of batch) this.hooks.delivered?.(message, reached);
		}
		this.dirty.clear();
	}

	private writeFrame(sub: Subscriber, text: string): void {
		if (!sub.sink.destroyed) sub.sink.write(text);
	}

	/** One write; a subscriber that cannot keep up is cut off rather than buffered without bound. */
	private write(feed: ChannelFeed, sub: Subscriber, bytes: Buffer): void {
		if (sub.sink.destroyed) return;
		sub.sink.write(bytes);
		if (sub.sink.writableLength > this.maxBufferedBytes) {
			this.hooks.slowSubscriberDropped?.(feed.channel);
			sub.sink.destroy();
			this.remove(feed, sub);
		}
	}
}

/** The SSE frame of a message in a stream format. */
export function frame(message: ChatMessage, format: StreamFormat): string {
	return format === "legacy"
		? sseEvent({ id: message.seq, data: JSON.stringify(toLegacyMessage(message)) })
		: sseEvent({ id: message.seq, event: "message", data: JSON.stringify(message) });
}
