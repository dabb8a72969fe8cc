/**
 * The broadcast node's channels: per channel a ChannelSequencer (order, gap repair, epochs) feeding a
 * ChannelFanOut (subscribers, replay, coalesced writes). This facade creates a channel with its first
 * subscriber, drops it with its last, and writes every channel's coalesced messages once per tick.
 *
 * @example
 *   const hub = new ChannelHub({ fetchHistory: (c, after, limit) => broker.call("history.range", { channel: c, after, limit }) });
 *   await hub.subscribe(channel, res, { lastEventId: 41 });   // replays 42…, then live
 *   hub.deliver(message);                                     // from the channel bus
 *   hub.catchUp(await broker.call("history.heads", { channels: hub.servedChannels() }));
 */
import { ChannelFanOut, type FanOutHooks, type SseSink } from "./channel-fan-out";
import { ChannelSequencer, type FetchHistory, type SequencerHooks, type StreamPosition } from "./channel-sequencer";
import type { HistoryPage } from "./history-store";
import type { ChatMessage } from "./message";
import { sseComment } from "./sse-frame";
import { eventFrame, type StreamFormat } from "./stream-frames";

export type { SseSink } from "./channel-fan-out";
export type { FetchHistory, StreamPosition, StreamReset } from "./channel-sequencer";
export type { StreamFormat } from "./stream-frames";

export interface ChannelHubOptions {
	fetchHistory: FetchHistory;
	/** Messages per history request (replay, repair). */
	pageSize?: number;
	/** A live subscriber whose unsent bytes exceed this is disconnected (it resumes with Last-Event-ID); a replay waits for drain. */
	maxBufferedBytes?: number;
	/** First delay before a failed repair is tried again (doubles, up to 5 s). */
	repairRetryMs?: number;
	/** Observers, for logs and metrics. */
	hooks?: Partial<ChannelHubHooks>;
	/**
	 * Where this node says which channels it wants (the channel bus): `join` when a channel gets its first
	 * subscriber, resolving once messages of the channel reach this node, so the position read after it
	 * misses nothing; `leave` when the channel's last subscriber left. Without it every message is offered.
	 */
	interest?: ChannelInterest;
}

/** Interest in a channel's messages, e.g. a subscription to its topic (`src/channel-bus.ts`). */
export interface ChannelInterest {
	join(channel: string): Promise<void>;
	leave(channel: string): void;
}

export interface ChannelHubHooks extends FanOutHooks, SequencerHooks {
	subscribersChanged(channel: string, count: number): void;
}

export interface SubscribeOptions {
	/** Replay everything after this seq first. */
	lastEventId?: number;
	format?: StreamFormat;
	/** Written once the subscriber is registered and history answered (headers, retry hint). */
	onOpen?: () => void;
}

interface Channel {
	sequencer: ChannelSequencer;
	fanOut: ChannelFanOut;
	/** Until this node receives the channel's messages: the interest's join (undefined once it resolved). */
	joining: Promise<void> | undefined;
}

export class ChannelHub {
	private readonly channels = new Map<string, Channel>();
	private readonly pageSize: number;
	private readonly maxBufferedBytes: number;
	private readonly hooks: Partial<ChannelHubHooks>;
	private readonly dirty = new Set<ChannelFanOut>();
	private flushScheduled = false;
	private closed = false;
	private subscriberTotal = 0;

	constructor(private readonly options: ChannelHubOptions) {
		this.pageSize = options.pageSize ?? 500;
		this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
		this.hooks = options.hooks ?? {};
	}

	/**
	 * Registers a stream, replays what it missed, then keeps it live until the sink closes.
	 * Rejects (and registers nothing) when history cannot answer; nothing has been written then.
	 */
	async subscribe(channel: string, sink: SseSink, options: SubscribeOptions = {}): Promise<void> {
		if (this.closed) throw new Error("ChannelHub is closed");
		const opened = this.open(channel);
		const { sequencer, fanOut } = opened;
		const sub = fanOut.add(sink, options.format ?? "chatcast");
		this.subscriberTotal++;
		const forget = (): void => fanOut.remove(sub);
		sink.once("close", forget);

		const after = options.lastEventId;
		let first: HistoryPage;
		try {
			// Read only once the channel's messages reach us: everything stored after the read is then delivered.
			if (opened.joining) await opened.joining;
			first = await this.options.fetchHistory(channel, after ?? 0, after === undefined ? 0 : this.pageSize);
		} catch (err) {
			forget();
			throw err;
		}
		if (sink.destroyed) return forget();
		this.hooks.subscribersChanged?.(channel, fanOut.subscribers.size);
		options.onOpen?.();
		sequencer.learnPosition(first);
		await fanOut.join(sub, after, first);
	}

	/** Takes a message from the channel bus. Messages for channels without local subscribers are ignored. */
	deliver(message: ChatMessage): void {
		this.channels.get(message.channel)?.sequencer.offer(message);
	}

	/** Re-reads every served channel from history: after a transporter reconnect, packets may be lost. */
	resyncAll(): void {
		for (const { sequencer } of this.channels.values()) sequencer.resync();
	}

	/** Channels served here (whose position is known), for a `heads` check. */
	servedChannels(): string[] {
		return [...this.channels.values()].filter(c => c.sequencer.current !== undefined).map(c => c.sequencer.channel);
	}

	/**
	 * Compares history's head per channel (`history.heads`) with the position here and repairs what is
	 * behind or in another epoch: catches a lost packet even when no later message reveals the gap.
	 */
	catchUp(heads: Record<string, StreamPosition>): void {
		for (const [channel, head] of Object.entries(heads)) this.channels.get(channel)?.sequencer.catchUp(head);
	}

	/** A comment on every stream, so idle connections stay open through proxies. */
	heartbeat(): void {
		const bytes = Buffer.from(sseComment());
		for (const { fanOut } of this.channels.values()) fanOut.writeLive(bytes);
	}

	/** Subscriber count per channel on this node, most subscribed first. */
	stats(): Array<{ channel: string; subscribers: number }> {
		return [...this.channels.entries()]
			.map(([channel, { fanOut }]) => ({ channel, subscribers: fanOut.subscribers.size }))
			.sort((a, b) => b.subscribers - a.subscribers || a.channel.localeCompare(b.channel));
	}

	subscriberCount(channel: string): number {
		return this.channels.get(channel)?.fanOut.subscribers.size ?? 0;
	}

	/** True once closeAll ran: no new streams. */
	get isClosed(): boolean {
		return this.closed;
	}

	/** Streams open on this node, all channels. */
	get totalSubscribers(): number {
		return this.subscriberTotal;
	}

	/** Sends an event of another type (e.g. presence) to every live chatcast subscriber of a channel. */
	notify(channel: string, event: string, data: unknown): void {
		this.channels.get(channel)?.fanOut.writeLive(eventFrame(event, data), true);
	}

	/** Ends every stream with a short retry hint, so clients come back (to another node) at once. */
	closeAll(retryMs: number): void {
		this.closed = true;
		this.flush();
		for (const [name, { sequencer, fanOut }] of this.channels) {
			sequencer.close();
			fanOut.close(retryMs);
			this.options.interest?.leave(name);
		}
		this.channels.clear();
		this.subscriberTotal = 0;
	}

	/** The channel, created with its first subscriber. */
	private open(channel: string): Channel {
		const existing = this.channels.get(channel);
		if (existing) return existing;
		const fanOut: ChannelFanOut = new ChannelFanOut(channel, {
			fetchHistory: this.options.fetchHistory,
			pageSize: this.pageSize,
			maxBufferedBytes: this.maxBufferedBytes,
			scheduleFlush: () => this.schedule(fanOut),
			removed: size => this.removed(created, size),
			hooks: this.hooks,
		});
		const sequencer = new ChannelSequencer(channel, fanOut, {
			fetchHistory: this.options.fetchHistory,
			pageSize: this.pageSize,
			repairRetryMs: this.options.repairRetryMs,
			hooks: this.hooks,
		});
		const created: Channel = { sequencer, fanOut, joining: undefined };
		const joining = this.options.interest?.join(channel).then(() => {
			created.joining = undefined;
		});
		// A failed join fails the subscribers awaiting it (until the channel is dropped); not unhandled here.
		joining?.catch(() => undefined);
		created.joining = joining;
		this.channels.set(channel, created);
		return created;
	}

	/** A subscriber left; the last one takes its channel with it. */
	private removed(channel: Channel, size: number): void {
		this.subscriberTotal--;
		const name = channel.sequencer.channel;
		this.hooks.subscribersChanged?.(name, size);
		if (size === 0 && this.channels.get(name) === channel) {
			channel.sequencer.close();
			this.channels.delete(name);
			this.options.interest?.leave(name);
		}
	}

	private schedule(fanOut: ChannelFanOut): void {
		this.dirty.add(fanOut);
		if (this.flushScheduled) return;
		this.flushScheduled = true;
		setImmediate(() => this.flush());
	}

	/** Writes what every channel delivered this tick. */
	private flush(): void {
		this.flushScheduled = false;
		for (const fanOut of this.dirty) fanOut.flush();
		this.dirty.clear();
	}
}
