/**
 * The replay cache alone: its bound in bytes and in time, failures, and which pages answer which reads.
 * History is a real MemoryHistory behind a counting fetch.
 */
import { randomUUID } from "node:crypto";
import type { FetchHistory } from "../../src/channel-sequencer";
import { MemoryHistory } from "../../src/memory-history";
import { ReplayCache } from "../../src/replay-cache";

async function setup(channels: number, messages: number) {
	const store = new MemoryHistory({ limit: 1000, ttlSeconds: 3600, idempotencySeconds: 600 });
	const names: string[] = Array.from({ length: channels }, () => randomUUID());
	for (const channel of names)
		for (let i = 0; i < messages; i++)
			await store.append({ id: randomUUID(), channel, author: "a", text: "y".repeat(200), sentAt: new Date().toISOString() });
	const reads: string[] = [];
	const fetchHistory: FetchHistory = (channel, after, limit) => {
		reads.push(`${names.indexOf(channel)}:${after}`);
		return store.range(channel, after, limit);
	};
	return { names, reads, fetchHistory };
}

const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms));

describe("ReplayCache", () => {
	test("holds at most maxBytes over all channels, dropping the oldest pages first", async () => {
		const { names, reads, fetchHistory } = await setup(10, 20);
		const probe = await new ReplayCache(fetchHistory, { maxBytes: 0, ttlMs: 0 }).read(names[0], 0, 500, undefined);
		const maxBytes = 3 * probe.bytes + 1; // room for three channels' pages
		const cache = new ReplayCache(fetchHistory, { maxBytes, ttlMs: 60_000 });
		for (const channel of names) {
			await cache.read(channel, 0, 500, undefined);
			expect(cache.heldBytes).toBeLessThanOrEqual(maxBytes);
		}
		expect(cache.heldBytes).toBe(3 * probe.bytes);
		reads.length = 0;
		await cache.read(names[9], 0, 500, undefined); // among the newest: kept
		await cache.read(names[0], 0, 500, undefined); // the oldest: dropped, read again
		expect(reads).toEqual(["0:0"]);
		cache.clear();
		expect(cache.heldBytes).toBe(0);
	});

	test("a page larger than the whole cache is not kept", async () => {
		const { names, reads, fetchHistory } = await setup(1, 20);
		const cache = new ReplayCache(fetchHistory, { maxBytes: 1000, ttlMs: 60_000 });
		await cache.read(names[0], 0, 500, undefined);
		await cache.read(names[0], 0, 500, undefined);
		expect(reads).toEqual(["0:0", "0:0"]);
		expect(cache.heldBytes).toBe(0);
	});

	test("pages expire after ttlMs, also when nobody asks again", async () => {
		const { names, reads, fetchHistory } = await setup(1, 5);
		const cache = new ReplayCache(fetchHistory, { maxBytes: 1 << 20, ttlMs: 30 });
		await cache.read(names[0], 0, 500, undefined);
		await cache.read(names[0], 0, 500, undefined);
		expect(reads).toEqual(["0:0"]);
		expect(cache.heldBytes).toBeGreaterThan(0);
		await sleep(80);
		expect(cache.heldBytes).toBe(0);
		await cache.read(names[0], 0, 500, undefined);
		expect(reads).toEqual(["0:0", "0:0"]);
		cache.clear();
	});

	test("a failed read fails every resume waiting on it, and is not kept: the next resume reads again", async () => {
		const { names, reads, fetchHistory } = await setup(1, 5);
		let failing = true;
		const cache = new ReplayCache(
			async (c, after, limit) => {
				const page = await fetchHistory(c, after, limit);
				if (failing) throw new Error("down");
				return page;
			},
			{ maxBytes: 1 << 20, ttlMs: 60_000 },
		);
		const waiting = [1, 2, 3].map(() => cache.read(names[0], 0, 500, undefined));
		for (const read of waiting) await expect(read).rejects.toThrow("down");
		expect(reads).toEqual(["0:0"]);
		failing = false;
		await expect(cache.read(names[0], 0, 500, undefined)).resolves.toMatchObject({ after: 0 });
		expect(reads).toEqual(["0:0", "0:0"]);
		cache.clear();
	});

	test("a page answers later starts inside it, not a start past its end while more follows, nor one before it", async () => {
		const { names, reads, fetchHistory } = await setup(1, 10);
		const cache = new ReplayCache(fetchHistory, { maxBytes: 1 << 20, ttlMs: 60_000 });
		const page = await cache.read(names[0], 2, 4, undefined); // 3…6 of 10
		expect(page.page.messages.map(m => m.seq)).toEqual([3, 4, 5, 6]);
		expect((await cache.read(names[0], 4, 4, undefined)).framesAfter(4, "chatcast").toString()).toMatch(/^id: [\w-]{12}\.5\n/);
		expect(reads).toEqual(["0:2"]);
		await cache.read(names[0], 6, 4, undefined); // 7… are not in it
		await cache.read(names[0], 1, 4, undefined); // 2 is not in it
		expect(reads).toEqual(["0:2", "0:6", "0:1"]);
		// Nor does a page of this count answer a resume that must reach further, or another count.
		await cache.read(names[0], 2, 4, { epoch: page.page.epoch, lastSeq: 11 });
		await cache.read(names[0], 2, 4, { epoch: "another", lastSeq: 3 });
		expect(reads).toEqual(["0:2", "0:6", "0:1", "0:2", "0:2"]);
		cache.clear();
	});
});
