/**
 * MemoryHistory: the store contract, and expiry of channels and interest marks on a fake clock.
 */
import { randomUUID } from "node:crypto";
import { INTEREST_TTL_MS } from "../../src/history-store";
import { MemoryHistory } from "../../src/memory-history";
import { StoreFull } from "../../src/store-errors";
import { CONTRACT_OPTIONS, draft, historyStoreContract } from "../support/history-store-contract";

// A restarted process has a new, empty store. Its marks' time passes on a fake clock.
historyStoreContract("MemoryHistory", {
	create: () => new MemoryHistory(CONTRACT_OPTIONS),
	restart: async () => new MemoryHistory(CONTRACT_OPTIONS),
	marks: () => {
		let now = 1_000_000;
		return {
			store: new MemoryHistory(CONTRACT_OPTIONS, () => now),
			ttlMs: INTEREST_TTL_MS,
			elapse: async ms => {
				now += ms;
			},
		};
	},
});

describe("MemoryHistory expiry", () => {
	const options = { ...CONTRACT_OPTIONS, ttlSeconds: 10, idempotencySeconds: 5 };

	test("a channel is forgotten TTL after its last message: it counts again from 1 in a new epoch", async () => {
		let now = 1_000_000;
		const store = new MemoryHistory(options, () => now);
		const channel = randomUUID();
		const first = await store.append(draft(channel, "old", "k"));
		now += 6_000;
		expect((await store.append(draft(channel, "again", "k"))).created).toBe(true); // idempotency window over
		now += 9_999; // the second message keeps the channel
		expect(await store.range(channel, 0, 10)).toMatchObject({ epoch: first.message.epoch, oldestSeq: 1, lastSeq: 2 });
		now += 1;
		expect(await store.range(channel, 0, 10)).toEqual({ epoch: "", messages: [], oldestSeq: 1, lastSeq: 0 });
		expect(await store.lastSeqs([channel])).toEqual({ [channel]: { epoch: "", lastSeq: 0 } });
		const after = (await store.append(draft(channel, "new"))).message;
		expect(after.seq).toBe(1);
		expect(after.epoch).not.toBe(first.message.epoch);
	});

	test("expired channels are dropped a few per call, without timers, while live ones stay", async () => {
		let now = 1_000_000;
		const store = new MemoryHistory(options, () => now);
		const held = (): number => (Reflect.get(store, "channels") as Map<string, unknown>).size;
		for (let i = 0; i < 20; i++) await store.append(draft(randomUUID(), "old"));
		now += 5_000;
		const live = randomUUID();
		await store.append(draft(live, "live"));
		now += 5_000; // the 20 expire now; `live` in 5 s
		expect(held()).toBe(21);
		await store.range(randomUUID(), 0, 10);
		expect(held()).toBe(13);
		await store.lastSeqs([randomUUID()]);
		await store.append(draft(randomUUID(), "new"));
		expect(held()).toBe(2);
		expect((await store.range(live, 0, 10)).messages.map(m => m.text)).toEqual(["live"]);
	});
});

describe("MemoryHistory interest marks", () => {
	test("a mark lives INTEREST_TTL_MS; expired marks are dropped a few per call, without timers, while live ones stay", async () => {
		let now = 1_000_000;
		const store = new MemoryHistory(CONTRACT_OPTIONS, () => now);
		const marks = Reflect.get(store, "marks") as Map<string, { listeners: Map<string, number> }>;
		const live = randomUUID();
		await store.markInterest([live], "node-a");
		now += INTEREST_TTL_MS / 2;
		await store.markInterest(
			Array.from({ length: 20 }, () => randomUUID()),
			"node-b",
		);
		await store.markInterest([live], "node-b");
		expect(marks.size).toBe(21);
		now += INTEREST_TTL_MS / 2; // node-a's mark of `live` expires now; the others in half a TTL
		expect((await store.append(draft(live, "x"), "node-b")).listened).toBe(false);
		expect([...(marks.get(live)?.listeners.keys() ?? [])]).toEqual(["node-b"]);
		now += INTEREST_TTL_MS / 2 - 1;
		expect((await store.append(draft(live, "x"), "node-a")).listened).toBe(true);
		now += 1; // everything has expired: each call drops a few of the 21
		await store.append(draft(randomUUID(), "x"));
		expect(marks.size).toBe(13);
		await store.markInterest([randomUUID()], "node-c");
		expect(marks.size).toBe(6);
		await store.append(draft(randomUUID(), "x"));
		expect(marks.size).toBe(1);
	});
});

describe("MemoryHistory bound", () => {
	const text = "x".repeat(1000);

	test("appends beyond maxBytes are refused with StoreFull, and nothing moves; what leaves frees its bytes", async () => {
		let now = 1_000_000;
		const store = new MemoryHistory({ ...CONTRACT_OPTIONS, limit: 5, ttlSeconds: 10, maxBytes: 8_500 }, () => now);
		const [a, b] = [randomUUID(), randomUUID()];
		for (let i = 0; i < 5; i++) await store.append(draft(a, text));
		for (let i = 0; i < 2; i++) await store.append(draft(b, text)); // 7 messages of ~1,180 bytes fit in 8,500
		await expect(store.append(draft(b, text))).rejects.toBeInstanceOf(StoreFull);
		expect((await store.range(b, 0, 10)).lastSeq).toBe(2); // the refused append used no seq
		// Like Redis with noeviction: a full store refuses even a channel whose trim would make room.
		await expect(store.append(draft(a, text))).rejects.toBeInstanceOf(StoreFull);
		await store.purge(a);
		expect((await store.append(draft(b, text))).message.seq).toBe(3);
		now += 10_000; // everything expires
		await store.range(randomUUID(), 0, 1);
		await store.range(b, 0, 1);
		expect(store.retainedBytes).toBe(0);
	});
});
