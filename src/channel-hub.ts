/**
 * The broadcast node's channels: per channel a ChannelSequencer (order, gap repair, epochs) feeding a
 * ChannelFanOut (subscribers, replay, coalesced writes). This facade creates a channel with its first
 * subscriber, drops it with its last, and writes every channel's coalesced messages once per tick.
 *
 * @example
 *   const hub = new ChannelHub({ fetchHistory: (c, after, limit) => broker.call("history.range", { channel: c, after, limit }) });
 *   await hub.subscribe(channel, res, { resumeFrom: { seq: 41 } });   // replays 42…, then live
 *   hub.deliver(message);                                     // from the channel bus
 *   hub.catchUp(await broker.call("history.heads", { channels: hub.servedChannels() }));
 */
import { ChannelFanOut, type FanOutHooks, type SseSink, type Subscriber } from "./channel-fan-out";
import {
	ChannelSequencer,
	type FetchHistory,
	type SequencerHooks,
	type StreamPosition,
	type StreamReset,
} from "./channel-sequencer";
import type { ChatMessage, ResumePoint } from "./message";
import { DEFAULT_REPLAY_CACHE, ReplayCache, type ReplayCacheHooks, type ReplayPage } from "./replay-cache";
import { sseComment } from "./sse-frame";
import { ExpirySchedule } from "./stream-expiry";
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
	/** Replay pages kept for other resumes: bytes over all channels, and how long (default 16 MiB, 2 s). */
	replayCache?: { maxBytes: number; ttlMs: number };
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

export interface ChannelHubHooks extends FanOutHooks, SequencerHooks, ReplayCacheHooks {
	subscribersChanged(channel: string, count: number): void;
}

export interface SubscribeOptions {
	/** Replay everything after this position first (a resume point of another count than the channel's: a reset). */
	resumeFrom?: ResumePoint;
	format?: StreamFormat;
	/** Written once the subscriber is registered and history answered (headers, retry hint). */
	onOpen?: () => void;
	/** When the stream's token expires (ms since the epoch): the stream is sent `event: expired` and ended then. */
	expiresAt?: number;
}

/** A stream that ends with its token. */
interface Timed {
	fanOut: ChannelFanOut;
	sub: Subscriber;
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
	private readonly expiry = new ExpirySchedule<Timed>();
	/** Replays of the same range share one history read and its frames (a reconnect storm reads each page once). */
	private readonly replays: ReplayCache;
	private flushScheduled = false;
	private closed = false;
	private subscriberTotal = 0;

	constructor(private readonly options: ChannelHubOptions) {
		this.pageSize = options.pageSize ?? 500;
		this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
		this.hooks = options.hooks ?? {};
		this.replays = new ReplayCache(options.fetchHistory, {
			...(options.replayCache ?? DEFAULT_REPLAY_CACHE),
			hooks: this.hooks,
		});
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
		const cancelExpiry = options.expiresAt === undefined ? undefined : this.expiry.add({ fanOut, sub }, options.expiresAt);
		const forget = (): void => {
			cancelExpiry?.();
			fanOut.remove(sub);
		};
		// `on`, not `once`: a sink closes once, and once's wrapper would be kept for the stream's life.
		sink.on("close", forget);

		const after = options.resumeFrom?.seq;
		// Where the channel stands now: what was delivered before the registration, the first page must hold.
		const reach = sequencer.current && { ...sequencer.current };
		let first: ReplayPage;
		try {
			// Read only once the channel's messages reach us: everything stored after the read is then delivered.
			if (opened.joining) await opened.joining;
			first = await this.replays.read(channel, after ?? 0, after === undefined ? 0 : this.pageSize, reach);
		} catch (err) {
			forget();
			throw err;
		}
		if (sink.destroyed) return forget();
		this.hooks.subscribersChanged?.(channel, fanOut.subscribers.size);
		options.onOpen?.();
		sequencer.learnPosition(first.page);
		await fanOut.join(sub, options.resumeFrom, first);
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

	/**
	 * Ends the streams whose token has expired (call about once a second): a live one is sent
	 * `event: expired` after what it was already sent, so it resumes with Last-Event-ID and a fresh token;
	 * one still replaying is cut (it resumes the same way). Returns how many ended.
	 */
	expireDue(now = Date.now()): number {
		const due = this.expiry.due(now);
		if (due.length === 0) return 0;
		// What this tick delivered goes out first: the stream's last id is then all it was sent.
		this.flush();
		const bytes = eventFrame("expired", { reason: "token_expired" });
		for (const { fanOut, sub } of due) {
			const live = sub.queue === null;
			fanOut.remove(sub);
			if (sub.sink.destroyed) continue;
			if (!live) {
				sub.sink.destroy();
				continue;
			}
			sub.sink.write(bytes);
			sub.sink.end();
		}
		return due.length;
	}

	/** Streams that will end with their token. */
	get timedStreams(): number {
		return this.expiry.size;
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
		this.replays.clear();
		this.subscriberTotal = 0;
	}

	/** The channel, created with its first subscriber. */
	private open(channel: string): Channel {
		const existing = this.channels.get(channel);
		if (existing) return existing;
		const fanOut: ChannelFanOut = new ChannelFanOut(channel, {
			readReplay: (after, reach) => this.replays.read(channel, after, this.pageSize, reach),
			pageSize: this.pageSize,
			maxBufferedBytes: this.maxBufferedBytes,
			scheduleFlush: () => this.schedule(fanOut),
			removed: size => this.removed(created, size),
			hooks: this.hooks,
		});
		const listener = {
			deliver: (messages: ChatMessage[]) => fanOut.deliver(messages),
			// History does not continue the cached pages either.
			reset: (reset: StreamReset) => {
				this.replays.forget(channel);
				fanOut.reset(reset);
			},
		};
		const sequencer = new ChannelSequencer(channel, listener, {
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
			this.replays.forget(name);
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
