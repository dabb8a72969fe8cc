/**
 * MemoryHistory: the store contract, and expiry on a fake clock.
 */
import { randomUUID } from "node:crypto";
import { MemoryHistory } from "../../src/memory-history";
import { CONTRACT_OPTIONS, draft, historyStoreContract } from "../support/history-store-contract";

// A restarted process has a new, empty store.
historyStoreContract("MemoryHistory", {
	create: () => new MemoryHistory(CONTRACT_OPTIONS),
	restart: async () => new MemoryHistory(CONTRACT_OPTIONS),
});

describe("MemoryHistory expiry", () => {
	test("messages are dropped after the TTL; seq and epoch stay", async () => {
		let now = 1_000_000;
		const store = new MemoryHistory({ ...CONTRACT_OPTIONS, ttlSeconds: 10, idempotencySeconds: 5 }, () => now);
		const channel = randomUUID();
		const first = await store.append(draft(channel, "old", "k"));
		now += 6_000;
		expect((await store.append(draft(channel, "again", "k"))).created).toBe(true); // idempotency window over
		now += 11_000;
		expect(await store.range(channel, 0, 10)).toEqual({ epoch: first.message.epoch, messages: [], oldestSeq: 3, lastSeq: 2 });
		expect(first.message.seq).toBe(1);
	});
});
