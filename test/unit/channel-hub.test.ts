/**
 * The broadcast node's delivery: replay/live merge, gap repair ordering, resets, slow subscribers.
 * History is a real MemoryHistory; streams are in-memory sinks read with a real SSE parser.
 */
import { randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { ChannelHub, type ChannelHubOptions, type FetchHistory } from "../../src/channel-hub";
import { MemoryHistory } from "../../src/memory-history";
import type { ChatMessage } from "../../src/message";
import { expectEachExactlyOnce, seqRange } from "../support/exactly-once";
import { waitFor } from "../support/node-process";

class TestSink extends PassThrough {
	events: EventSourceMessage[] = [];
	writes = 0;
	retry?: number;

	constructor(read = true) {
		super({ highWaterMark: 1024 });
		const parser = createParser({
			onEvent: e => this.events.push(e),
			onRetry: ms => {
				this.retry = ms;
			},
		});
		if (read) this.on("data", (chunk: Buffer) => parser.feed(chunk.toString()));
	}

	override write(chunk: Buffer | string): boolean {
		this.writes++;
		return super.write(chunk);
	}

	get seqs(): number[] {
		return this.events.filter(e => e.event === "message").map(e => (JSON.parse(e.data) as ChatMessage).seq);
	}
}

function setup(limit = 100, options: Partial<ChannelHubOptions> = {}) {
	const store = new MemoryHistory({ limit, ttlSeconds: 3600, idempotencySeconds: 600 });
	const channel = randomUUID();
	const fetches: Array<[number, number]> = [];
	const fetchHistory: FetchHistory = (c, after, l) => {
		fetches.push([after, l]);
		return store.range(c, after, l);
	};
	const hub = new ChannelHub({ fetchHistory, repairRetryMs: 10, ...options });
	const append = async (text = "x"): Promise<ChatMessage> =>
		(await store.append({ id: randomUUID(), channel, author: "a", text, sentAt: new Date().toISOString() })).message;
	return { store, channel, hub, append, fetches };
}

const tick = (): Promise<void> => new Promise(r => setImmediate(r));

describe("ChannelHub", () => {
	test("live subscribers get each message once, in order, framed as SSE", async () => {
		const { hub, channel, append } = setup();
		const sink = new TestSink();
		await hub.subscribe(channel, sink);
		const first = await append("m0");
		hub.deliver(first);
		hub.deliver(await append("m1"));
		hub.deliver(first); // a duplicate
		hub.deliver(await append("m2"));
		await waitFor(() => sink.seqs.length === 3);
		await tick();
		expect(sink.seqs).toEqual([1, 2, 3]);
		expect(JSON.parse(sink.events[0].data)).toMatchObject({ seq: 1, text: "m0", channel });
	});

	test("messages of one tick are coalesced into one write per subscriber, same bytes for all", async () => {
		const { hub, channel, append } = setup();
		const a = new TestSink();
		const b = new TestSink();
		await hub.subscribe(channel, a);
		await hub.subscribe(channel, b);
		const messages = [await append(), await append(), await append()];
		const [writesA, writesB] = [a.writes, b.writes];
		for (const m of messages) hub.deliver(m);
		await tick();
		expect(a.writes - writesA).toBe(1);
		expect(b.writes - writesB).toBe(1);
		await waitFor(() => a.seqs.length === 3 && b.seqs.length === 3);
		expect(a.events).toEqual(b.events);
	});

	test("Last-Event-ID replays what was missed, then continues live", async () => {
		const { hub, channel, append } = setup();
		for (let i = 0; i < 5; i++) await append();
		const sink = new TestSink();
		await hub.subscribe(channel, sink, { resumeFrom: { seq: 2 } });
		hub.deliver(await append());
		await waitFor(() => sink.seqs.length === 4);
		expect(sink.seqs).toEqual([3, 4, 5, 6]);
	});

	test("messages arriving during the replay are neither lost nor doubled", async () => {
		const { store, channel, append } = setup();
		for (let i = 0; i < 5; i++) await append();
		let release!: () => void;
		const gate = new Promise<void>(r => {
			release = r;
		});
		const hub = new ChannelHub({
			fetchHistory: async (c, after, limit) => {
				const page = await store.range(c, after, limit);
				await gate;
				return page;
			},
		});
		const sink = new TestSink();
		const subscribed = hub.subscribe(channel, sink, { resumeFrom: { seq: 1 } });
		// Stored after history was read, delivered live while the replay waits.
		const six = await append();
		const seven = await append();
		hub.deliver(six);
		hub.deliver(seven);
		release();
		await subscribed;
		hub.deliver(await append());
		await waitFor(() => sink.seqs.length >= 7);
		await tick();
		expect(sink.seqs).toEqual([2, 3, 4, 5, 6, 7, 8]);
	});

	test("a stream opened without Last-Event-ID gets what was delivered while its history read was under way", async () => {
		const { store, channel, append } = setup();
		let gate: Promise<void> | undefined;
		const hub = new ChannelHub({
			fetchHistory: async (c, after, limit) => {
				const page = await store.range(c, after, limit);
				await gate;
				return page;
			},
		});
		const early = new TestSink();
		await hub.subscribe(channel, early); // the channel is served here already
		let release = (): void => undefined;
		gate = new Promise<void>(r => {
			release = r;
		});
		const sink = new TestSink();
		const subscribed = hub.subscribe(channel, sink); // its read saw lastSeq 0, then waits
		hub.deliver(await append());
		await tick();
		release();
		await subscribed;
		hub.deliver(await append());
		await waitFor(() => sink.seqs.length >= 2);
		await tick();
		expect(sink.seqs).toEqual([1, 2]);
		expect(early.seqs).toEqual([1, 2]);
	});

	test("a replay longer than one page is read page by page", async () => {
		const { hub, channel, append, fetches } = setup(100, { pageSize: 4 });
		for (let i = 0; i < 10; i++) await append();
		const sink = new TestSink();
		await hub.subscribe(channel, sink, { resumeFrom: { seq: 0 } });
		await waitFor(() => sink.seqs.length === 10);
		expect(sink.seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
		expect(fetches.length).toBeGreaterThanOrEqual(3);
	});

	test("an event that jumps ahead is held while the gap is fetched, then all go out in order", async () => {
		const repaired: Array<[number, number]> = [];
		const { hub, channel, append } = setup(100, { hooks: { gapRepaired: (_c, from, to) => repaired.push([from, to]) } });
		const sink = new TestSink();
		await hub.subscribe(channel, sink);
		hub.deliver(await append());
		await append(); // seq 2: its packet was lost
		await append(); // seq 3: lost too
		hub.deliver(await append()); // seq 4 arrives
		hub.deliver(await append()); // seq 5
		await waitFor(() => sink.seqs.length === 5);
		await tick();
		expect(sink.seqs).toEqual([1, 2, 3, 4, 5]);
		expect(repaired[0]).toEqual([2, expect.any(Number)]);
	});

	test("a failed repair is retried until history answers", async () => {
		const { store, channel, append } = setup();
		let failures = 2;
		const failed: string[] = [];
		const hub = new ChannelHub({
			repairRetryMs: 10,
			fetchHistory: async (c, after, limit) => {
				if (after > 0 && failures-- > 0) throw new Error("history down");
				return store.range(c, after, limit);
			},
			hooks: { repairFailed: c => failed.push(c) },
		});
		const sink = new TestSink();
		await hub.subscribe(channel, sink);
		hub.deliver(await append());
		await append();
		hub.deliver(await append());
		await waitFor(() => sink.seqs.length === 3, 5000);
		expect(sink.seqs).toEqual([1, 2, 3]);
		expect(failed).toHaveLength(2);
	});

	test("a Last-Event-ID older than the retained window gets event: reset first", async () => {
		const { hub, channel, append, store } = setup(5);
		for (let i = 0; i < 10; i++) await append();
		const sink = new TestSink();
		await hub.subscribe(channel, sink, { resumeFrom: { seq: 2 } });
		await waitFor(() => sink.seqs.length === 5);
		expect(sink.events[0]).toMatchObject({ event: "reset" });
		const { epoch } = await store.range(channel, 0, 0);
		expect(JSON.parse(sink.events[0].data)).toEqual({ epoch, oldestSeq: 6, lastSeq: 10 });
		expect(sink.seqs).toEqual([6, 7, 8, 9, 10]);
	});

	test("a Last-Event-ID ahead of history (store restarted) gets reset and the retained messages", async () => {
		const { hub, channel, append } = setup();
		await append();
		await append();
		const sink = new TestSink();
		await hub.subscribe(channel, sink, { resumeFrom: { seq: 50 } });
		await waitFor(() => sink.seqs.length === 2);
		expect(sink.events[0].event).toBe("reset");
		expect(sink.seqs).toEqual([1, 2]);
	});

	test("a restarted count (new epoch) reaches live streams as event: reset, then the new messages", async () => {
		const history = { store: new MemoryHistory({ limit: 100, ttlSeconds: 3600, idempotencySeconds: 600 }) };
		const hub = new ChannelHub({ fetchHistory: (c, after, l) => history.store.range(c, after, l), repairRetryMs: 10 });
		const channel = randomUUID();
		const append = async (): Promise<ChatMessage> =>
			(await history.store.append({ id: randomUUID(), channel, author: "a", text: "x", sentAt: new Date().toISOString() }))
				.message;
		const sink = new TestSink();
		await hub.subscribe(channel, sink);
		hub.deliver(await append());
		hub.deliver(await append());
		history.store = new MemoryHistory({ limit: 100, ttlSeconds: 3600, idempotencySeconds: 600 }); // the store lost its count
		const fresh = await append();
		hub.deliver(fresh);
		await waitFor(() => sink.seqs.length === 3);
		expect(sink.events.map(e => e.event)).toEqual(["message", "message", "reset", "message"]);
		expect(JSON.parse(sink.events[2].data)).toEqual({ epoch: fresh.epoch, oldestSeq: 1, lastSeq: 1 });
		expect(sink.seqs).toEqual([1, 2, 1]);
		expect(hub.servedChannels()).toEqual([channel]);
		hub.closeAll(0);
	});

	test("resyncAll catches up channels whose packets were lost", async () => {
		const { hub, channel, append } = setup();
		const sink = new TestSink();
		await hub.subscribe(channel, sink);
		await append();
		await append();
		hub.resyncAll();
		await waitFor(() => sink.seqs.length === 2);
		expect(sink.seqs).toEqual([1, 2]);
	});

	test("catchUp repairs a channel whose last message never arrived (no later message shows the gap)", async () => {
		const { hub, channel, append, store } = setup();
		const sink = new TestSink();
		await hub.subscribe(channel, sink);
		hub.deliver(await append());
		await append(); // the last message; its packet was lost
		expect(hub.servedChannels()).toEqual([channel]);
		hub.catchUp(await store.lastSeqs(hub.servedChannels()));
		await waitFor(() => sink.seqs.length === 2);
		expect(sink.seqs).toEqual([1, 2]);
	});

	test("a subscriber that cannot keep up is disconnected; the others are not slowed", async () => {
		const dropped: string[] = [];
		const { hub, channel, append } = setup(1000, {
			maxBufferedBytes: 8 * 1024,
			hooks: { slowSubscriberDropped: c => dropped.push(c) },
		});
		const stuck = new TestSink(false); // nobody reads it
		const healthy = new TestSink();
		await hub.subscribe(channel, stuck);
		await hub.subscribe(channel, healthy);
		for (let i = 0; i < 100; i++) hub.deliver(await append("y".repeat(500)));
		await waitFor(() => healthy.seqs.length === 100);
		expect(stuck.destroyed).toBe(true);
		expect(dropped).toEqual([channel]);
		expect(hub.subscriberCount(channel)).toBe(1);
	});

	test("closed streams are forgotten; an empty channel is dropped", async () => {
		const { hub, channel } = setup();
		const sink = new TestSink();
		await hub.subscribe(channel, sink);
		expect(hub.stats()).toEqual([{ channel, subscribers: 1 }]);
		sink.destroy();
		await waitFor(() => hub.stats().length === 0);
	});

	test("history down at subscribe: it rejects and registers nothing", async () => {
		const hub = new ChannelHub({
			fetchHistory: async () => {
				throw new Error("down");
			},
		});
		const channel = randomUUID();
		let opened = false;
		await expect(
			hub.subscribe(channel, new TestSink(), {
				onOpen: () => {
					opened = true;
				},
			}),
		).rejects.toThrow("down");
		expect(opened).toBe(false);
		expect(hub.stats()).toEqual([]);
	});

	test("closeAll sends a short retry and ends every stream", async () => {
		const { hub, channel } = setup();
		const sink = new TestSink();
		await hub.subscribe(channel, sink);
		hub.closeAll(250);
		await new Promise(r => sink.once("end", r));
		expect(sink.retry).toBe(250);
		await expect(hub.subscribe(channel, new TestSink())).rejects.toThrow(/closed/);
	});

	test("legacy streams carry the original system's message shape", async () => {
		const { hub, channel, append } = setup();
		const sink = new TestSink();
		await hub.subscribe(channel, sink, { format: "legacy" });
		const message = await append("old client");
		hub.deliver(message);
		await waitFor(() => sink.events.length === 1);
		expect(sink.events[0].id).toBe(`${message.epoch}.1`);
		expect(sink.events[0].event).toBeUndefined();
		expect(JSON.parse(sink.events[0].data)).toEqual({ id: expect.any(String), userId: "a", message: "old client" });
	});
});

describe("ChannelHub: resumes share history reads", () => {
	/** Records every chunk, to tell whether two streams were written the same bytes. */
	class RecordingSink extends TestSink {
		chunks: Buffer[] = [];

		override write(chunk: Buffer | string): boolean {
			this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
			return super.write(chunk);
		}
	}

	/** Each sink's seqs, as expectEachExactlyOnce reads them (again at every look). */
	const deliveries = (sinks: TestSink[], expected: number[]) =>
		sinks.map((sink, i) => ({
			name: `subscriber ${i}`,
			get received() {
				return sink.seqs;
			},
			expected,
		}));

	test("200 resumes of the same range at once: one history read per page, each stream gets it exactly once, then live", async () => {
		const { hub, channel, append, fetches } = setup(1000, { pageSize: 40 });
		for (let i = 0; i < 150; i++) await append();
		const sinks = Array.from({ length: 200 }, () => new TestSink());
		const subscribed = Promise.all(sinks.map(sink => hub.subscribe(channel, sink, { resumeFrom: { seq: 50 } })));
		// Live meanwhile: stored after the reads, delivered while the replays run.
		hub.deliver(await append());
		await subscribed;
		hub.deliver(await append());
		await expectEachExactlyOnce(deliveries(sinks, seqRange(51, 152)), { settleMs: 50 });
		// 100 messages behind in pages of 40: three reads for all 200 streams (not 600).
		expect(fetches).toEqual([
			[50, 40],
			[90, 40],
			[130, 40],
		]);
		hub.closeAll(0);
	});

	test("a later resume of a range read moments ago reads nothing, and is written the very same bytes", async () => {
		const { hub, channel, append, fetches } = setup();
		for (let i = 0; i < 20; i++) await append();
		const first = new RecordingSink();
		const second = new RecordingSink();
		const overlapping = new RecordingSink();
		await hub.subscribe(channel, first, { resumeFrom: { seq: 5 } });
		await hub.subscribe(channel, second, { resumeFrom: { seq: 5 } });
		await hub.subscribe(channel, overlapping, { resumeFrom: { seq: 12 } }); // inside the cached page
		await expectEachExactlyOnce(
			[...deliveries([first, second], seqRange(6, 20)), ...deliveries([overlapping], seqRange(13, 20))],
			{ settleMs: 0 },
		);
		expect(fetches).toEqual([[5, 500]]);
		const [a, b, c] = [first.chunks[0], second.chunks[0], overlapping.chunks[0]];
		expect(b.buffer).toBe(a.buffer);
		expect(b.byteOffset).toBe(a.byteOffset);
		expect(c.buffer).toBe(a.buffer); // a view into the same frames
		hub.closeAll(0);
	});

	test("a cached page behind what this node already delivered is not used: the resume reads anew, no gap", async () => {
		const { hub, channel, append, fetches } = setup();
		for (let i = 0; i < 5; i++) await append();
		const early = new TestSink();
		await hub.subscribe(channel, early, { resumeFrom: { seq: 0 } }); // caches the page after 0 (head 5)
		hub.deliver(await append());
		hub.deliver(await append()); // 6, 7 delivered: the page after 0 does not hold them
		await waitFor(() => early.seqs.length === 7);
		const late = new TestSink();
		await hub.subscribe(channel, late, { resumeFrom: { seq: 0 } });
		hub.deliver(await append());
		await expectEachExactlyOnce(deliveries([early, late], seqRange(1, 8)), { settleMs: 50 });
		expect(fetches).toEqual([
			[0, 500],
			[0, 500],
		]);
		hub.closeAll(0);
	});

	test("after the count restarts (new epoch), a cached page of the old count is never replayed", async () => {
		const history = { store: new MemoryHistory({ limit: 100, ttlSeconds: 3600, idempotencySeconds: 600 }) };
		const hub = new ChannelHub({ fetchHistory: (c, after, l) => history.store.range(c, after, l), repairRetryMs: 10 });
		const channel = randomUUID();
		const append = async (text = "old"): Promise<ChatMessage> =>
			(await history.store.append({ id: randomUUID(), channel, author: "a", text, sentAt: new Date().toISOString() })).message;
		const live = new TestSink();
		await hub.subscribe(channel, live);
		for (let i = 0; i < 5; i++) hub.deliver(await append());
		const resumed = new TestSink();
		await hub.subscribe(channel, resumed, { resumeFrom: { seq: 2 } }); // caches the page after 2 of the old count
		await waitFor(() => resumed.seqs.length === 3);
		history.store = new MemoryHistory({ limit: 100, ttlSeconds: 3600, idempotencySeconds: 600 }); // the store lost its count
		const renewed: ChatMessage[] = [];
		for (let i = 0; i < 4; i++) renewed.push(await append("new"));
		hub.deliver(renewed[0]);
		await waitFor(() => live.events.some(e => e.event === "reset") && live.seqs.length === 9);
		const after = new TestSink();
		await hub.subscribe(channel, after, { resumeFrom: { seq: 2 } });
		await waitFor(() => after.seqs.length === 2);
		await tick();
		expect(after.seqs).toEqual([3, 4]);
		for (const event of after.events) expect(JSON.parse(event.data)).toMatchObject({ epoch: renewed[0].epoch, text: "new" });
		hub.closeAll(0);
	});

	test("streams opened without Last-Event-ID share a head read while it still reaches what was delivered", async () => {
		const { hub, channel, append, fetches } = setup();
		for (let i = 0; i < 3; i++) await append();
		const first = new TestSink();
		const second = new TestSink();
		await hub.subscribe(channel, first);
		await hub.subscribe(channel, second);
		expect(fetches).toEqual([[0, 0]]);
		hub.deliver(await append()); // 4: the cached head (3) no longer reaches
		const third = new TestSink();
		await hub.subscribe(channel, third);
		expect(fetches).toEqual([
			[0, 0],
			[0, 0],
		]);
		hub.deliver(await append());
		await expectEachExactlyOnce([...deliveries([first, second], seqRange(4, 5)), ...deliveries([third], seqRange(5, 5))], {
			settleMs: 50,
		});
		hub.closeAll(0);
	});

	test("no cache (REPLAY_CACHE_MAX_BYTES=0): resumes one after another read each, resumes at once still share", async () => {
		const { hub, channel, append, fetches } = setup(100, { replayCache: { maxBytes: 0, ttlMs: 2000 } });
		for (let i = 0; i < 10; i++) await append();
		const together = [new TestSink(), new TestSink(), new TestSink()];
		await Promise.all(together.map(sink => hub.subscribe(channel, sink, { resumeFrom: { seq: 4 } })));
		await hub.subscribe(channel, new TestSink(), { resumeFrom: { seq: 4 } });
		expect(fetches).toEqual([
			[4, 500],
			[4, 500],
		]);
		await expectEachExactlyOnce(deliveries(together, seqRange(5, 10)), { settleMs: 0 });
		hub.closeAll(0);
	});
});
