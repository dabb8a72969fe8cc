/**
 * One channel's subscribers and writes, without sockets: fake sinks whose buffer the test controls,
 * read with a real SSE parser; history is a real MemoryHistory; deliver/reset are called as the
 * channel's sequencer would call them.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { ChannelFanOut, type FanOutOptions, type SseSink } from "../../src/channel-fan-out";
import type { FetchHistory } from "../../src/channel-sequencer";
import { MemoryHistory } from "../../src/memory-history";
import type { ChatMessage, ResumePoint } from "../../src/message";
import { ReplayPage } from "../../src/replay-cache";

/** A response whose unsent bytes grow with every write until the test lets it drain (or, when fast, never grow). */
class FakeSink extends EventEmitter implements SseSink {
	readonly events: EventSourceMessage[] = [];
	writes = 0;
	writableLength = 0;
	destroyed = false;
	ended = false;
	private readonly parser = createParser({ onEvent: e => this.events.push(e) });

	/** `fast`: the client reads at once, so nothing stays unsent. */
	constructor(public fast = true) {
		super();
	}

	write(chunk: Buffer | string): boolean {
		this.writes++;
		this.parser.feed(chunk.toString());
		if (!this.fast) this.writableLength += chunk.length;
		return this.writableLength === 0;
	}

	/** The client read everything. */
	drain(): void {
		this.writableLength = 0;
		this.emit("drain");
	}

	end(): void {
		this.ended = true;
	}

	destroy(): void {
		if (this.destroyed) return;
		this.destroyed = true;
		this.emit("close");
	}

	get seqs(): number[] {
		return this.events.filter(e => e.event === "message").map(e => (JSON.parse(e.data) as ChatMessage).seq);
	}
}

const tick = (): Promise<void> => new Promise(r => setImmediate(r));

/** `fetchHistory`: where the replay's later pages come from (default: the store), each read unshared. */
function setup(options: Partial<FanOutOptions> & { limit?: number; fetchHistory?: FetchHistory } = {}) {
	const channel = randomUUID();
	const store = new MemoryHistory({ limit: options.limit ?? 1000, ttlSeconds: 3600, idempotencySeconds: 600 });
	const removed: number[] = [];
	const fetchHistory = options.fetchHistory ?? store.range.bind(store);
	const pageSize = options.pageSize ?? 500;
	const fanOut = new ChannelFanOut(channel, {
		readReplay: async after => new ReplayPage(await fetchHistory(channel, after, pageSize), after),
		pageSize,
		maxBufferedBytes: 1024 * 1024,
		scheduleFlush: () => setImmediate(() => fanOut.flush()),
		removed: size => removed.push(size),
		...options,
	});
	const append = async (text = "x"): Promise<ChatMessage> =>
		(await store.append({ id: randomUUID(), channel, author: "a", text, sentAt: new Date().toISOString() })).message;
	/** Stores a message and delivers it as the sequencer would. */
	const live = async (text?: string): Promise<ChatMessage> => {
		const message = await append(text);
		fanOut.deliver([message]);
		return message;
	};
	/** Registers, reads history, joins: what ChannelHub.subscribe does. */
	const subscribe = async (
		sink: FakeSink,
		resumeFrom?: number | ResumePoint,
		fetch: FetchHistory = store.range.bind(store),
	): Promise<void> => {
		const sub = fanOut.add(sink, "chatcast");
		sink.once("close", () => fanOut.remove(sub));
		const point = typeof resumeFrom === "number" ? { seq: resumeFrom } : resumeFrom;
		const after = point?.seq;
		await fanOut.join(sub, point, new ReplayPage(await fetch(channel, after ?? 0, after === undefined ? 0 : pageSize), after));
	};
	return { channel, store, fanOut, append, live, subscribe, removed };
}

describe("ChannelFanOut", () => {
	test("each subscriber gets each message exactly once, in order, in one write per tick", async () => {
		const { fanOut, live, subscribe } = setup();
		const a = new FakeSink();
		const b = new FakeSink();
		await subscribe(a);
		await subscribe(b);
		await live();
		await live();
		await tick();
		const late = new FakeSink();
		await subscribe(late); // joins at the end: 1 and 2 are not its to get
		const writes = [a.writes, b.writes, late.writes];
		await live();
		await live();
		await live();
		await tick();
		expect([a.writes, b.writes, late.writes]).toEqual(writes.map(w => w + 1));
		fanOut.flush(); // nothing left: writes nothing again
		expect(a.seqs).toEqual([1, 2, 3, 4, 5]);
		expect(b.seqs).toEqual([1, 2, 3, 4, 5]);
		expect(late.seqs).toEqual([3, 4, 5]);
		expect(a.events).toEqual(b.events);
	});

	// The live messages are delivered while the replay's history read is under way: it may have read
	// before they were stored (they come only from the queue) or after (they come from both).
	test.each(["before", "after"])(
		"a replay merges with what arrives live meanwhile (history read %s): no duplicate, no gap",
		async when => {
			const { store, live, append, subscribe } = setup();
			for (let i = 0; i < 5; i++) await append();
			let release = (): void => undefined;
			const gate = new Promise<void>(r => {
				release = r;
			});
			const sink = new FakeSink();
			const joined = subscribe(sink, 1, async (c, after, limit) => {
				if (when === "after") await gate;
				const page = await store.range(c, after, limit);
				if (when === "before") await gate;
				return page;
			});
			await live();
			await live();
			release();
			await joined;
			await live();
			await tick();
			expect(sink.seqs).toEqual([2, 3, 4, 5, 6, 7, 8]);
		},
	);

	test("a reset reaches live subscribers before the messages that follow it; joining ones start over", async () => {
		const { fanOut, live, subscribe, removed } = setup();
		const a = new FakeSink();
		const b = new FakeSink();
		await subscribe(a);
		await subscribe(b);
		const old = await live();
		await live();
		const joining = new FakeSink();
		const joiningSub = fanOut.add(joining, "chatcast"); // its history has not answered yet
		joining.once("close", () => fanOut.remove(joiningSub));
		// The count restarted (new epoch) and the sequencer re-read history: 1…2 of epoch "E2".
		const message = (seq: number): ChatMessage => ({ ...old, id: randomUUID(), seq, epoch: "E2" });
		fanOut.reset({ epoch: "E2", oldestSeq: 1, lastSeq: 2 });
		fanOut.deliver([message(1), message(2)]);
		await tick();
		for (const sink of [a, b]) {
			expect(sink.events.map(e => e.event)).toEqual(["message", "message", "reset", "message", "message"]);
			expect(JSON.parse(sink.events[2].data)).toEqual({ epoch: "E2", oldestSeq: 1, lastSeq: 2 });
			expect(sink.seqs).toEqual([1, 2, 1, 2]);
			expect(JSON.parse(sink.events[4].data)).toMatchObject({ seq: 2, epoch: "E2" });
		}
		expect(joining.destroyed).toBe(true);
		expect(removed).toEqual([2]);
	});

	test("a stream of another epoch gets nothing of this one until a reset aligns it", async () => {
		const { fanOut, live, subscribe } = setup();
		const sink = new FakeSink();
		await subscribe(sink);
		const old = await live();
		// A subscriber that joined from newer history than this node has seen (a restarted count).
		const newer = new FakeSink();
		const sub = fanOut.add(newer, "chatcast");
		await fanOut.join(sub, undefined, new ReplayPage({ epoch: "E2", messages: [], oldestSeq: 1, lastSeq: 3 }));
		await live();
		await tick();
		expect(newer.seqs).toEqual([]);
		fanOut.reset({ epoch: "E2", oldestSeq: 1, lastSeq: 3 });
		fanOut.deliver([{ ...old, seq: 4, epoch: "E2" }]);
		await tick();
		expect(newer.events.map(e => e.event)).toEqual(["message"]); // it already was at 3 of E2: no reset for it
		expect(newer.seqs).toEqual([4]);
		expect(sink.seqs).toEqual([1, 2, 4]);
		expect(sink.events[2].event).toBe("reset");
	});

	// A client away while the count restarted (a Redis failover, an expired head) comes back with an id of
	// the old count: its seq means nothing in the new one, even where it is in range.
	test("a resume point of another epoch gets a reset and everything retained of this one; of this epoch, the rest", async () => {
		const { append, subscribe } = setup();
		const stored = [await append("1"), await append("2"), await append("3")];
		const { epoch } = stored[0];
		const otherCount = new FakeSink();
		await subscribe(otherCount, { seq: 2, epoch: "an-old-count" });
		expect(otherCount.events.map(e => e.event)).toEqual(["reset", "message", "message", "message"]);
		expect(JSON.parse(otherCount.events[0].data)).toEqual({ epoch, oldestSeq: 1, lastSeq: 3 });
		expect(otherCount.seqs).toEqual([1, 2, 3]);
		const sameCount = new FakeSink();
		await subscribe(sameCount, { seq: 2, epoch });
		expect(sameCount.events.map(e => e.event)).toEqual(["message"]);
		expect(sameCount.seqs).toEqual([3]);
	});

	// Between two pages of a replay the count restarted, or the rest was trimmed: the stream must not
	// go on as if it continued; it is closed, and its resume (Last-Event-ID) gets the reset.
	test.each(["restarted", "trimmed"])("a replay whose next page does not continue it (%s) closes the stream", async how => {
		const later: { fetch: FetchHistory } = { fetch: async () => Promise.reject(new Error("unset")) };
		const { store, append, subscribe } = setup({ pageSize: 2, fetchHistory: (c, after, limit) => later.fetch(c, after, limit) });
		later.fetch = async (c, after, limit) => {
			const page = await store.range(c, after, limit);
			return how === "restarted" ? { ...page, epoch: "E2" } : { ...page, messages: page.messages.slice(1), oldestSeq: after + 2 };
		};
		for (let i = 0; i < 6; i++) await append();
		const sink = new FakeSink();
		await subscribe(sink, 0);
		expect(sink.destroyed).toBe(true);
		expect(sink.seqs).toEqual([1, 2]);
	});

	test("a live subscriber that cannot keep up is cut off; the others get everything", async () => {
		const dropped: string[] = [];
		const { live, subscribe, removed, channel, fanOut } = setup({
			maxBufferedBytes: 8 * 1024,
			hooks: { slowSubscriberDropped: c => dropped.push(c) },
		});
		const stuck = new FakeSink(false);
		const healthy = new FakeSink();
		await subscribe(stuck);
		await subscribe(healthy);
		for (let i = 0; i < 40; i++) {
			await live("y".repeat(500));
			await tick();
		}
		expect(healthy.seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
		expect(stuck.destroyed).toBe(true);
		expect(stuck.writableLength).toBeLessThan(8 * 1024 + 1024);
		expect(dropped).toEqual([channel]);
		expect(removed).toEqual([1]);
		expect(fanOut.subscribers.size).toBe(1);
	});

	test("a replay to a slow reader waits for drain past the limit, and still ends complete and live", async () => {
		const { append, live, subscribe, fanOut } = setup({ pageSize: 4, maxBufferedBytes: 1 });
		for (let i = 0; i < 20; i++) await append();
		const slow = new FakeSink(false);
		let done = false;
		const joined = subscribe(slow, 0).then(() => {
			done = true;
		});
		await new Promise(r => setTimeout(r, 30));
		expect(slow.writes).toBe(1); // one page written, then it waits: not the whole history at once
		expect(slow.seqs).toEqual([1, 2, 3, 4]);
		for (let i = 0; i < 3; i++) await live(); // live meanwhile: queued
		while (!done) {
			slow.drain();
			await tick();
		}
		await joined;
		slow.fast = true;
		await live();
		await tick();
		expect(slow.destroyed).toBe(false);
		expect(slow.seqs).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
		expect(fanOut.subscribers.size).toBe(1);
	});

	test("a replay stuck behind a slow reader is cut off once a page of live messages queues up", async () => {
		const dropped: string[] = [];
		const { append, live, subscribe, removed } = setup({
			pageSize: 4,
			maxBufferedBytes: 1,
			hooks: { slowSubscriberDropped: c => dropped.push(c) },
		});
		for (let i = 0; i < 20; i++) await append();
		const stuck = new FakeSink(false);
		const joined = subscribe(stuck, 0);
		for (let i = 0; i < 4; i++) await live();
		expect(stuck.destroyed).toBe(false);
		await live();
		expect(stuck.destroyed).toBe(true);
		await joined;
		expect(dropped).toHaveLength(1);
		expect(removed).toEqual([0]);
		expect(stuck.writes).toBe(1);
	});
});
