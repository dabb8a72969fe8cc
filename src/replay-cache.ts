/**
 * The history pages of replays on a broadcast node, shared: when many streams resume the same channel at
 * once (a reconnect storm), one history read answers all of them, and each page is framed once per
 * stream format, the same Buffer written to every stream.
 *
 * Sharing must not open a gap. A stream is registered before its replay is read, and everything this
 * node delivers after the registration waits in the stream's queue; so the replay must hold what was
 * delivered before it, i.e. reach the channel's position at the registration (`reach`). A read started
 * earlier, or a cached page, is used only if it reaches that far in the same epoch; otherwise the stream
 * gets a read of its own. Overlapping resumes share too: a page read after `a` answers a resume after
 * `b ≥ a` while it still holds messages after `b` (or all of them up to the channel's head).
 *
 * The cache is bounded by bytes (an estimate: message objects and frames) and by age, over all channels,
 * oldest first out. Its pages may show, for at most `ttlMs`, messages purged since they were read.
 *
 * @example
 *   const cache = new ReplayCache(fetchHistory, { maxBytes: 16 << 20, ttlMs: 2000 });
 *   const page = await cache.read(channel, 41, 500, sequencer.current);   // shared with other resumes after 41
 *   sink.write(page.framesAfter(41, "chatcast"));                         // one Buffer for all of them
 */
import { continues, type FetchHistory, type StreamPosition } from "./channel-sequencer";
import type { HistoryPage } from "./history-store";
import { frame, type StreamFormat } from "./stream-frames";

/** One format's frames of a page: one Buffer, and where each message's frame starts in it. */
interface Framed {
	whole: Buffer;
	starts: number[];
}

/** A history page with its frames, made once per format. */
export class ReplayPage {
	private readonly framed: Partial<Record<StreamFormat, Framed>> = {};

	/** `after` is the seq the page was read after. */
	constructor(
		readonly page: HistoryPage,
		readonly after = 0,
	) {}

	/** The seq of the page's last message; `after` when it has none. */
	get end(): number {
		const { messages } = this.page;
		return messages.length > 0 ? messages[messages.length - 1].seq : this.after;
	}

	/** True when the page holds every message after `after` up to the channel's head (nothing follows it). */
	get complete(): boolean {
		return this.end >= this.page.lastSeq;
	}

	/** True when the page answers a read after `after` as a fresh read (of its time) would. */
	answers(after: number): boolean {
		return this.after <= after && (after < this.end || this.complete);
	}

	/** The frames of the messages with seq > `after`: a view of one shared Buffer (empty when none). */
	framesAfter(after: number, format: StreamFormat): Buffer {
		const framed = this.frames(format);
		const index = this.page.messages.findIndex(m => m.seq > after);
		return index < 0 ? Buffer.alloc(0) : framed.whole.subarray(framed.starts[index]);
	}

	/** Estimated bytes held: the message objects (about their frames' size) and up to two formats of frames. */
	get bytes(): number {
		return 3 * this.frames("chatcast").whole.length;
	}

	private frames(format: StreamFormat): Framed {
		let framed = this.framed[format];
		if (!framed) {
			const parts = this.page.messages.map(m => frame(m, format));
			const starts: number[] = [];
			let offset = 0;
			for (const part of parts) {
				starts.push(offset);
				offset += part.length;
			}
			framed = { whole: Buffer.concat(parts, offset), starts };
			this.framed[format] = framed;
		}
		return framed;
	}
}

/** REPLAY_CACHE_MAX_BYTES and REPLAY_CACHE_MS's defaults. */
export const DEFAULT_REPLAY_CACHE = { maxBytes: 16 * 1024 * 1024, ttlMs: 2000 };

export interface ReplayCacheOptions {
	/** Bytes of pages kept over all channels (0: none kept; concurrent reads are still shared). */
	maxBytes: number;
	/** How long a page is kept after it was read. */
	ttlMs: number;
	/** Counts what the cache saves: a read of history made, or a stream answered without one. */
	hooks?: Partial<ReplayCacheHooks>;
}

export interface ReplayCacheHooks {
	historyRead(channel: string): void;
	shared(channel: string): void;
}

interface Entry {
	channel: string;
	limit: number;
	page: ReplayPage;
	expires: number;
	bytes: number;
}

/** True when `page` holds everything up to `reach` (undefined: the node delivered nothing yet, any page does). */
function reaches(page: HistoryPage, reach: StreamPosition | undefined): boolean {
	return reach === undefined || (continues(reach.epoch, page.epoch) && page.lastSeq >= reach.lastSeq);
}

export class ReplayCache {
	/** Oldest first (all entries live equally long, so this is also expiry order). */
	private readonly entries = new Set<Entry>();
	private readonly byChannel = new Map<string, Set<Entry>>();
	/** Reads under way, per channel|after|limit: a resume arriving meanwhile waits for it. */
	private readonly inFlight = new Map<string, Promise<ReplayPage>>();
	private bytes = 0;
	private pruneTimer: NodeJS.Timeout | undefined;
	private readonly hooks: Partial<ReplayCacheHooks>;

	constructor(
		private readonly fetchHistory: FetchHistory,
		private readonly options: ReplayCacheOptions,
	) {
		this.hooks = options.hooks ?? {};
	}

	/** Bytes the cache holds now. */
	get heldBytes(): number {
		return this.bytes;
	}

	/**
	 * A page of `channel` after `after` (at most `limit` messages) that reaches `reach`: a cached page, a
	 * read under way, or a new read (shared with the resumes that arrive while it runs).
	 */
	async read(channel: string, after: number, limit: number, reach: StreamPosition | undefined): Promise<ReplayPage> {
		const cached = this.lookup(channel, after, limit, reach);
		if (cached) {
			this.hooks.shared?.(channel);
			return cached;
		}
		const key = `${channel}|${after}|${limit}`;
		const running = this.inFlight.get(key);
		if (running) {
			const page = await running;
			if (reaches(page.page, reach)) {
				this.hooks.shared?.(channel);
				return page;
			}
		}
		return this.fetch(key, channel, after, limit);
	}

	/** Drops the channel's pages (its count restarted, it was trimmed past a stream, or it has no streams left). */
	forget(channel: string): void {
		const entries = this.byChannel.get(channel);
		if (!entries) return;
		for (const entry of entries) this.drop(entry);
	}

	/** Drops everything (the node shuts down). */
	clear(): void {
		for (const entry of this.entries) this.drop(entry);
		clearTimeout(this.pruneTimer);
		this.pruneTimer = undefined;
	}

	private lookup(channel: string, after: number, limit: number, reach: StreamPosition | undefined): ReplayPage | undefined {
		this.prune(Date.now());
		for (const entry of this.byChannel.get(channel) ?? []) {
			// A head (limit 0) holds no messages: any that reaches far enough answers.
			const answers = limit === 0 || entry.page.answers(after);
			if (entry.limit === limit && answers && reaches(entry.page.page, reach)) return entry.page;
		}
		return undefined;
	}

	private async fetch(key: string, channel: string, after: number, limit: number): Promise<ReplayPage> {
		const reading = this.fetchHistory(channel, after, limit).then(page => new ReplayPage(page, after));
		this.inFlight.set(key, reading);
		this.hooks.historyRead?.(channel);
		try {
			const page = await reading;
			this.keep(channel, limit, page);
			return page;
		} finally {
			if (this.inFlight.get(key) === reading) this.inFlight.delete(key);
		}
	}

	private keep(channel: string, limit: number, page: ReplayPage): void {
		if (this.options.maxBytes <= 0 || this.options.ttlMs <= 0) return;
		const bytes = page.bytes;
		if (bytes > this.options.maxBytes) return;
		const entry: Entry = { channel, limit, page, expires: Date.now() + this.options.ttlMs, bytes };
		this.entries.add(entry);
		let entries = this.byChannel.get(channel);
		if (!entries) {
			entries = new Set();
			this.byChannel.set(channel, entries);
		}
		entries.add(entry);
		this.bytes += bytes;
		for (const oldest of this.entries) {
			if (this.bytes <= this.options.maxBytes) break;
			this.drop(oldest);
		}
		this.schedulePrune();
	}

	private drop(entry: Entry): void {
		if (!this.entries.delete(entry)) return;
		this.bytes -= entry.bytes;
		const entries = this.byChannel.get(entry.channel);
		entries?.delete(entry);
		if (entries?.size === 0) this.byChannel.delete(entry.channel);
	}

	private prune(now: number): void {
		for (const entry of this.entries) {
			if (entry.expires > now) break;
			this.drop(entry);
		}
	}

	/** Frees expired pages even when no resume comes to look (one timer, for the oldest page). */
	private schedulePrune(): void {
		if (this.pruneTimer) return;
		const oldest = this.entries.values().next().value;
		if (!oldest) return;
		this.pruneTimer = setTimeout(
			() => {
				this.pruneTimer = undefined;
				this.prune(Date.now());
				this.schedulePrune();
			},
			Math.max(0, oldest.expires - Date.now()),
		);
		this.pruneTimer.unref();
	}
}
