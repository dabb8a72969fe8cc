/**
 * One channel's delivery order, without sockets: what the sequencer tells its listener for live
 * messages and history pages. History is a real MemoryHistory; a restarted count is a new instance.
 */
import { randomUUID } from "node:crypto";
import { ChannelSequencer, type SequencerOptions, type StreamReset } from "../../src/channel-sequencer";
import { MemoryHistory } from "../../src/memory-history";
import type { ChatMessage } from "../../src/message";
import { waitFor } from "../support/node-process";

/** What the listener was told, in order: each seq delivered, or a reset. */
type Told = number | StreamReset;

/**
 * Makes the store's reads wait — before they read, or after (with what they read) — until the returned
 * function is called.
 */
function holdReads(store: MemoryHistory, when: "before reading" | "after reading"): () => void {
	let release = (): void => undefined;
	const gate = new Promise<void>(r => {
		release = r;
	});
	const read = store.range.bind(store);
	store.range = async (channel, after, limit) => {
		if (when === "before reading") await gate;
		const page = await read(channel, after, limit);
		if (when === "after reading") await gate;
		return page;
	};
	return () => release();
}

function setup(limit = 100, options: Partial<SequencerOptions> = {}) {
	const channel = randomUUID();
	/** `failures`: how many of the next history reads fail. */
	const history = { store: new MemoryHistory({ limit, ttlSeconds: 3600, idempotencySeconds: 600 }), failures: 0 };
	const told: Told[] = [];
	const fetches: number[] = [];
	const sequencer = new ChannelSequencer(
		channel,
		{ deliver: messages => told.push(...messages.map(m => m.seq)), reset: reset => told.push(reset) },
		{
			fetchHistory: async (c, after, l) => {
				fetches.push(after);
				if (history.failures-- > 0) throw new Error("history down");
				return history.store.range(c, after, l);
			},
			repairRetryMs: 10,
			...options,
		},
	);
	const append = async (): Promise<ChatMessage> =>
		(await history.store.append({ id: randomUUID(), channel, author: "a", text: "x", sentAt: new Date().toISOString() })).message;
	/** The store loses the channel's count (a restart): the next append counts from 1 in a new epoch. */
	const restart = (): void => {
		history.store = new MemoryHistory({ limit, ttlSeconds: 3600, idempotencySeconds: 600 });
	};
	const delivered = (): number[] => told.filter((t): t is number => typeof t === "number");
	const start = async (): Promise<void> => sequencer.learnPosition(await history.store.range(channel, 0, 0));
	return { channel, sequencer, told, fetches, append, restart, delivered, start, history };
}

describe("ChannelSequencer", () => {
	test("contiguous messages are delivered at once, in order, without reading history", async () => {
		const { sequencer, append, delivered, fetches, start } = setup();
		await start();
		for (let i = 0; i < 3; i++) sequencer.offer(await append());
		expect(delivered()).toEqual([1, 2, 3]);
		expect(fetches).toEqual([]);
	});

	test("a duplicate is dropped", async () => {
		const { sequencer, append, delivered, start, fetches } = setup();
		await start();
		const one = await append();
		const two = await append();
		sequencer.offer(one);
		sequencer.offer(two);
		sequencer.offer(one);
		sequencer.offer(two);
		expect(delivered()).toEqual([1, 2]);
		await new Promise(r => setTimeout(r, 30));
		expect(fetches).toEqual([]); // dropped, not held as a gap to repair
	});

	test("a re-read that overlaps live delivery delivers nothing twice", async () => {
		const { sequencer, append, delivered, start, history } = setup();
		await start();
		sequencer.offer(await append());
		const release = holdReads(history.store, "before reading");
		sequencer.resync(); // e.g. after a transporter reconnect; its read waits
		sequencer.offer(await append());
		sequencer.offer(await append());
		release();
		await new Promise(r => setTimeout(r, 50));
		expect(delivered()).toEqual([1, 2, 3]);
	});

	test("a new epoch seen while a repair reads is acted on when that read ends", async () => {
		const { sequencer, append, restart, told, start, history } = setup();
		await start();
		sequencer.offer(await append());
		const release = holdReads(history.store, "after reading");
		sequencer.resync(); // reads the old count, then waits
		restart(); // a new store, read as usual
		const fresh = await append();
		sequencer.offer(fresh); // while the read waits
		release();
		await waitFor(() => told.length === 3);
		expect(told).toEqual([1, { epoch: fresh.epoch, oldestSeq: 1, lastSeq: 1 }, 1]);
	});

	test("messages that arrive before the position is known wait for it", async () => {
		const { sequencer, append, delivered, channel, history } = setup();
		const page = await history.store.range(channel, 0, 0);
		sequencer.offer(await append());
		sequencer.offer(await append());
		expect(delivered()).toEqual([]);
		sequencer.learnPosition(page);
		expect(delivered()).toEqual([1, 2]);
	});

	test("a message ahead of a gap is held; the gap is read from history, then all go out in order", async () => {
		const repaired: Array<[number, number]> = [];
		const { sequencer, append, delivered, start } = setup(100, {
			hooks: { gapRepaired: (_c, from, to) => repaired.push([from, to]) },
		});
		await start();
		sequencer.offer(await append());
		await append(); // seq 2: its packet was lost
		await append(); // seq 3: lost too
		sequencer.offer(await append());
		expect(delivered()).toEqual([1]); // 4 waits for 2 and 3
		sequencer.offer(await append());
		await waitFor(() => delivered().length === 5);
		expect(delivered()).toEqual([1, 2, 3, 4, 5]);
		expect(repaired[0][0]).toBe(2);
	});

	test("a failed repair is tried again until history answers", async () => {
		const failures: unknown[] = [];
		const { sequencer, append, delivered, start, history } = setup(100, {
			hooks: { repairFailed: (_c, err) => failures.push(err) },
		});
		await start();
		sequencer.offer(await append());
		await append();
		history.failures = 2;
		sequencer.offer(await append());
		await waitFor(() => delivered().length === 3, 5000);
		expect(delivered()).toEqual([1, 2, 3]);
		expect(failures).toHaveLength(2);
	});

	test("a message of a new epoch (the count restarted) makes it re-read history and reset there", async () => {
		const { sequencer, append, restart, told, start, history, channel } = setup();
		await start();
		for (let i = 0; i < 3; i++) sequencer.offer(await append());
		const oldEpoch = sequencer.current?.epoch;
		restart();
		const first = await append();
		await append();
		expect(first.epoch).not.toBe(oldEpoch);
		sequencer.offer(first);
		await waitFor(() => told.length === 6);
		expect(told).toEqual([1, 2, 3, { epoch: first.epoch, oldestSeq: 1, lastSeq: 2 }, 1, 2]);
		expect(sequencer.current).toEqual({ epoch: first.epoch, lastSeq: 2 });
		expect((await history.store.range(channel, 0, 0)).epoch).toBe(first.epoch);
	});

	test("a late message of the old epoch, after the reset, is dropped without another reset", async () => {
		const { sequencer, append, restart, told, start } = setup();
		await start();
		const old = await append();
		sequencer.offer(old);
		restart();
		const fresh = await append();
		sequencer.offer(fresh);
		await waitFor(() => told.length === 3);
		sequencer.offer({ ...old, seq: 2 });
		await new Promise(r => setTimeout(r, 50));
		expect(told).toEqual([1, { epoch: fresh.epoch, oldestSeq: 1, lastSeq: 1 }, 1]);
	});

	test("a repair that finds the missing part trimmed from history resets to what is retained", async () => {
		const { sequencer, append, told, start } = setup(5);
		await start();
		const one = await append();
		sequencer.offer(one);
		let last = one;
		for (let i = 0; i < 9; i++) last = await append(); // 2…10 stored; only 6…10 retained
		sequencer.offer(last);
		await waitFor(() => told.length === 7);
		expect(told).toEqual([1, { epoch: one.epoch, oldestSeq: 6, lastSeq: 10 }, 6, 7, 8, 9, 10]);
	});

	test("catchUp repairs from a head that is ahead, and resets for a head of another epoch", async () => {
		const { sequencer, append, restart, told, start, history, channel } = setup();
		await start();
		sequencer.offer(await append());
		await append(); // the last message; its packet was lost, no later one shows the gap
		sequencer.catchUp((await history.store.lastSeqs([channel]))[channel]);
		await waitFor(() => told.length === 2);
		expect(told).toEqual([1, 2]);

		sequencer.catchUp((await history.store.lastSeqs([channel]))[channel]); // up to date: nothing to do
		restart();
		const fresh = await append();
		sequencer.catchUp((await history.store.lastSeqs([channel]))[channel]);
		await waitFor(() => told.length === 4);
		expect(told.slice(2)).toEqual([{ epoch: fresh.epoch, oldestSeq: 1, lastSeq: 1 }, 1]);
	});

	test("an empty channel continues into its first epoch without a reset", async () => {
		const { sequencer, append, told, start } = setup();
		await start();
		expect(sequencer.current).toEqual({ epoch: "", lastSeq: 0 });
		const first = await append();
		sequencer.offer(first);
		expect(told).toEqual([1]);
		expect(sequencer.current).toEqual({ epoch: first.epoch, lastSeq: 1 });
	});
});
