/**
 * One channel's subscribers on a broadcast node, and the writes to them.
 *
 * A subscriber is registered first and answered from history second (replay), so nothing delivered
 * meanwhile is lost: it waits in the subscriber's queue. The replay writes history up to the head it
 * first read, and everything stored after that read is delivered after the registration, so it is in
 * the queue: no gap. Going live, the stream's own (epoch, lastSeq) filters what it already has, so
 * nothing is sent twice. Live messages are framed once per stream format and
 * coalesced per tick: one write per subscriber. A live subscriber whose unsent bytes pass the limit is
 * cut off (it resumes with Last-Event-ID); a replay instead waits for `drain` past the limit, so a
 * slow reader is never given a whole history at once (and is cut off when a page of live messages
 * queues up meanwhile).
 *
 * It is the listener of the channel's ChannelSequencer: `deliver` and `reset` come from there.
 *
 * @example
 *   const fanOut = new ChannelFanOut(channel, { readReplay, pageSize: 500, maxBufferedBytes: 1 << 20, scheduleFlush, removed });
 *   const sub = fanOut.add(res, "chatcast");
 *   await fanOut.join(sub, 41, firstPage);   // replays 42…, then live
 */
import { continues, type SequencerListener, type StreamPosition, type StreamReset } from "./channel-sequencer";
import type { ChatMessage, ResumePoint } from "./message";
import type { ReplayPage } from "./replay-cache";
import { sseRetry } from "./sse-frame";
import { frame, resetFrame, type StreamFormat } from "./stream-frames";

/** What the fan-out needs of an HTTP response. */
export interface SseSink {
	write(chunk: Buffer | string): boolean;
	end(): void;
	destroy(): void;
	readonly writableLength: number;
	readonly destroyed: boolean;
	once(event: "close" | "drain", listener: () => void): unknown;
	on(event: "close", listener: () => void): unknown;
	off(event: "close" | "drain", listener: () => void): unknown;
}

export interface FanOutHooks {
	delivered(message: ChatMessage, subscribers: number): void;
	slowSubscriberDropped(channel: string): void;
}

export interface FanOutOptions {
	/**
	 * The replay's next page after `after`, reaching at least `reach` (the head of the replay's first page):
	 * a page of history, possibly shared with other replays (src/replay-cache.ts).
	 */
	readReplay(after: number, reach: StreamPosition): Promise<ReplayPage>;
	/** Most messages a page holds; also the most live messages a joining stream may queue. */
	pageSize: number;
	/** Unsent bytes above which a live subscriber is cut off, and a replay waits for `drain`. */
	maxBufferedBytes: number;
	/** The outbox got its first message since the last flush: call flush() once this tick. */
	scheduleFlush(): void;
	/** A subscriber left (closed, cut off); `size` is how many remain. */
	removed(size: number): void;
	hooks?: Partial<FanOutHooks>;
}

/** One stream. Its position is (epoch, lastSeq) of what it has been sent. */
export class Subscriber {
	epoch = "";
	lastSeq = 0;
	/** While joining: live messages that arrived before its replay finished. */
	queue: ChatMessage[] | null = [];

	constructor(
		readonly sink: SseSink,
		readonly format: StreamFormat,
	) {}

	/** True when seq of epoch is new to this stream; an empty stream takes the first epoch it is sent. */
	takes(epoch: string, seq: number): boolean {
		if (!continues(this.epoch, epoch)) return false;
		this.epoch = epoch;
		return seq > this.lastSeq;
	}
}

export class ChannelFanOut implements SequencerListener {
	readonly subscribers = new Set<Subscriber>();
	/** The subscribers still in join(): live delivery queues for them, without walking every live one. */
	private readonly joining = new Set<Subscriber>();
	/** Delivered this tick, not yet written; always of one epoch (a reset flushes first). */
	private outbox: ChatMessage[] = [];
	private readonly hooks: Partial<FanOutHooks>;

	constructor(
		readonly channel: string,
		private readonly options: FanOutOptions,
	) {
		this.hooks = options.hooks ?? {};
	}

	/** Registers a joining stream: live messages wait in its queue until join() ends. */
	add(sink: SseSink, format: StreamFormat): Subscriber {
		const sub = new Subscriber(sink, format);
		this.subscribers.add(sub);
		this.joining.add(sub);
		return sub;
	}

	remove(sub: Subscriber): void {
		this.joining.delete(sub);
		if (this.subscribers.delete(sub)) this.options.removed(this.subscribers.size);
	}

	/**
	 * Sends a joining stream what it missed, from `first` (a history page reaching where the channel stood
	 * at add()) on, then makes it live. Without `resumeFrom` it starts at the channel's end.
	 */
	async join(sub: Subscriber, resumeFrom: ResumePoint | undefined, first: ReplayPage): Promise<void> {
		if (resumeFrom === undefined) {
			sub.epoch = first.page.epoch;
			sub.lastSeq = first.page.lastSeq;
		} else {
			await this.replay(sub, resumeFrom, first);
		}
		await this.goLive(sub);
	}

	/** From the sequencer: the channel's next messages. */
	deliver(messages: ChatMessage[]): void {
		for (const sub of this.joining) {
			if (sub.queue === null) continue;
			sub.queue.push(...messages);
			// A replay stuck behind a slow reader must not hold the channel's traffic without bound.
			if (sub.queue.length > this.options.pageSize) this.cutOff(sub);
		}
		if (this.outbox.length === 0) this.options.scheduleFlush();
		this.outbox.push(...messages);
	}

	/** From the sequencer: history does not continue the position. Live streams are told; joining ones start over. */
	reset(reset: StreamReset): void {
		this.flush();
		const bytes = resetFrame(reset);
		for (const sub of this.subscribers) {
			if (sub.queue !== null)
				sub.sink.destroy(); // mid-replay: it reconnects and replays afresh
			else if (!continues(sub.epoch, reset.epoch) || sub.lastSeq + 1 < reset.oldestSeq) {
				this.write(sub, bytes);
				sub.epoch = reset.epoch;
				sub.lastSeq = reset.oldestSeq - 1;
			}
		}
	}

	/** Writes the outbox: framed once per format, one write per subscriber. */
	flush(): void {
		const batch = this.outbox;
		if (batch.length === 0) return;
		this.outbox = [];
		const { epoch, seq: last } = batch[batch.length - 1];
		const framed: Partial<Record<StreamFormat, { parts: Buffer[]; whole: Buffer }>> = {};
		let reached = 0;
		for (const sub of this.subscribers) {
			if (sub.queue !== null || !sub.takes(epoch, last)) continue;
			let batchFrames = framed[sub.format];
			if (!batchFrames) {
				const parts = batch.map(m => frame(m, sub.format));
				batchFrames = { parts, whole: Buffer.concat(parts) };
				framed[sub.format] = batchFrames;
			}
			// Normally the subscriber has everything before the batch; after a replay it may have part of it.
			let skip = 0;
			while (batch[skip].seq <= sub.lastSeq) skip++;
			this.write(sub, skip === 0 ? batchFrames.whole : Buffer.concat(batchFrames.parts.slice(skip)));
			sub.lastSeq = last;
			reached++;
		}
		for (const message of batch) this.hooks.delivered?.(message, reached);
	}

	/** The same bytes to every live stream (heartbeats); `chatcastOnly` skips legacy streams (events they do not know). */
	writeLive(bytes: Buffer, chatcastOnly = false): void {
		for (const sub of this.subscribers) {
			if (sub.queue === null && (!chatcastOnly || sub.format === "chatcast")) this.write(sub, bytes);
		}
	}

	/** Ends every stream with a retry hint, so clients come back (to another node) at once. */
	close(retryMs: number): void {
		const goodbye = Buffer.from(sseRetry(retryMs));
		for (const sub of this.subscribers) {
			if (sub.sink.destroyed) continue;
			sub.sink.write(goodbye);
			sub.sink.end();
		}
		this.subscribers.clear();
		this.joining.clear();
	}

	/**
	 * Writes the history after the resume point, a page per write, up to the head of the first read (what
	 * was stored later waits in the queue). A page's frames are made once and shared by every stream it serves.
	 */
	private async replay(sub: Subscriber, { seq: after, epoch }: ResumePoint, first: ReplayPage): Promise<void> {
		const head = first.page;
		const reach: StreamPosition = { epoch: head.epoch, lastSeq: head.lastSeq };
		let page = first;
		sub.epoch = head.epoch;
		const otherCount = epoch !== undefined && epoch !== head.epoch;
		if (otherCount || after + 1 < head.oldestSeq || after > head.lastSeq) {
			// Messages were missed (trimmed or expired), or the id is from a count the store restarted.
			if (!(await this.send(sub, resetFrame(head)))) return;
			sub.lastSeq = head.oldestSeq - 1;
			// The first read began after `after`: the reset's stream starts over at oldestSeq.
			if (after >= head.oldestSeq) page = await this.options.readReplay(sub.lastSeq, reach);
		} else {
			sub.lastSeq = after;
		}
		for (;;) {
			const { epoch, oldestSeq, lastSeq } = page.page;
			// Counted anew, or trimmed past this stream while it read: it reconnects, and its resume is told (reset).
			if (!continues(sub.epoch, epoch) || (oldestSeq > sub.lastSeq + 1 && lastSeq > sub.lastSeq)) {
				sub.sink.destroy();
				return;
			}
			sub.epoch = epoch;
			const bytes = page.framesAfter(sub.lastSeq, sub.format);
			if (bytes.length === 0) return;
			sub.lastSeq = page.end;
			if (!(await this.send(sub, bytes))) return;
			if (sub.lastSeq >= head.lastSeq || sub.sink.destroyed) return;
			page = await this.options.readReplay(sub.lastSeq, reach);
		}
	}

	/** Sends what arrived during the replay (waiting for drain like the replay), then the stream takes the shared path. */
	private async goLive(sub: Subscriber): Promise<void> {
		for (let queued = sub.queue; queued !== null && queued.length > 0; queued = sub.queue) {
			sub.queue = [];
			const parts: Buffer[] = [];
			for (const message of queued) {
				if (!sub.takes(message.epoch, message.seq)) continue;
				parts.push(frame(message, sub.format));
				sub.lastSeq = message.seq;
			}
			if (parts.length > 0 && !(await this.send(sub, Buffer.concat(parts)))) return;
		}
		sub.queue = null;
		this.joining.delete(sub);
	}

	/** A replay write: past the limit it waits for `drain` instead of buffering more. False once the stream is gone. */
	private async send(sub: Subscriber, bytes: Buffer): Promise<boolean> {
		if (sub.sink.destroyed) return false;
		sub.sink.write(bytes);
		if (sub.sink.writableLength > this.options.maxBufferedBytes) await drained(sub.sink);
		return !sub.sink.destroyed;
	}

	/** A live write; a stream that cannot keep up is cut off rather than buffered without bound. */
	private write(sub: Subscriber, bytes: Buffer): void {
		if (sub.sink.destroyed) return;
		sub.sink.write(bytes);
		if (sub.sink.writableLength > this.options.maxBufferedBytes) this.cutOff(sub);
	}

	private cutOff(sub: Subscriber): void {
		this.hooks.slowSubscriberDropped?.(this.channel);
		sub.sink.destroy();
		this.remove(sub);
	}
}

/** Resolves when the sink has drained, or closed. */
function drained(sink: SseSink): Promise<void> {
	return new Promise(resolve => {
		const done = (): void => {
			sink.off("drain", done);
			sink.off("close", done);
			resolve();
		};
		sink.once("drain", done);
		sink.once("close", done);
	});
}
