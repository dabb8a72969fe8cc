/**
 * One contract, two stores: the in-memory store and real Redis (unique key prefix, cleaned up).
 */
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import type { HistoryStore, HistoryStoreOptions } from "../../src/history-store";
import { MemoryHistory } from "../../src/memory-history";
import type { MessageDraft } from "../../src/message";
import { RedisHistory } from "../../src/redis-history";
import { REDIS_URL } from "../support/node-process";

const OPTIONS: HistoryStoreOptions = { limit: 5, ttlSeconds: 60, idempotencySeconds: 60 };

function draft(channel: string, text: string, clientMsgId?: string): MessageDraft {
	return {
		id: randomUUID(),
		channel,
		author: "t",
		text,
		sentAt: new Date().toISOString(),
		...(clientMsgId ? { clientMsgId } : {}),
	};
}

interface StoreUnderTest {
	name: string;
	create(): HistoryStore;
	cleanup(): Promise<void>;
}

const prefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;
const stores: StoreUnderTest[] = [
	{ name: "MemoryHistory", create: () => new MemoryHistory(OPTIONS), cleanup: async () => undefined },
	{
		name: "RedisHistory",
		create: () => new RedisHistory(REDIS_URL, { ...OPTIONS, keyPrefix: prefix }),
		async cleanup() {
			const redis = new Redis(REDIS_URL);
			const keys = await redis.keys(`${prefix}*`);
			if (keys.length > 0) await redis.del(...keys);
			await redis.quit();
		},
	},
];

describe.each(stores)("history store contract: $name", ({ create, cleanup }) => {
	let store: HistoryStore;
	let channel: string;

	beforeAll(() => {
		store = create();
	});
	beforeEach(() => {
		channel = randomUUID();
	});
	afterAll(async () => {
		await store.close();
		await cleanup();
	});

	test("a new channel is empty: lastSeq 0, oldestSeq 1", async () => {
		expect(await store.range(channel, 0, 10)).toEqual({ messages: [], oldestSeq: 1, lastSeq: 0 });
	});

	test("append numbers 1, 2, 3 and stores the message as given", async () => {
		const results = [];
		for (const text of ["a", "b\nwith newline", 'c "quoted" {json}']) results.push(await store.append(draft(channel, text)));
		expect(results.map(r => [r.message.seq, r.created])).toEqual([
			[1, true],
			[2, true],
			[3, true],
		]);
		const page = await store.range(channel, 0, 10);
		expect(page.messages.map(m => m.text)).toEqual(["a", "b\nwith newline", 'c "quoted" {json}']);
		expect(page.messages[1]).toEqual(results[1].message);
		expect(page).toMatchObject({ oldestSeq: 1, lastSeq: 3 });
	});

	test("range returns seq > after, ascending, at most limit; limit 0 gives only the bounds", async () => {
		for (let i = 1; i <= 4; i++) await store.append(draft(channel, `m${i}`));
		expect((await store.range(channel, 1, 2)).messages.map(m => m.seq)).toEqual([2, 3]);
		expect((await store.range(channel, 3, 10)).messages.map(m => m.seq)).toEqual([4]);
		expect((await store.range(channel, 4, 10)).messages).toEqual([]);
		expect(await store.range(channel, 0, 0)).toEqual({ messages: [], oldestSeq: 1, lastSeq: 4 });
	});

	test("only the most recent `limit` are kept; oldestSeq says where history starts", async () => {
		for (let i = 1; i <= 8; i++) await store.append(draft(channel, `m${i}`));
		const page = await store.range(channel, 0, 100);
		expect(page.messages.map(m => m.seq)).toEqual([4, 5, 6, 7, 8]);
		expect(page).toMatchObject({ oldestSeq: 4, lastSeq: 8 });
	});

	test("a repeated clientMsgId returns the original, stores nothing", async () => {
		const first = await store.append(draft(channel, "once", "client-1"));
		const again = await store.append(draft(channel, "once", "client-1"));
		expect(again).toEqual({ message: first.message, created: false });
		expect((await store.range(channel, 0, 10)).lastSeq).toBe(1);
		// The key is per channel.
		expect((await store.append(draft(randomUUID(), "once", "client-1"))).created).toBe(true);
	});

	test("concurrent appends get distinct, contiguous seqs", async () => {
		const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append(draft(channel, `c${i}`))));
		expect(results.map(r => r.message.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
	});

	test("purge deletes messages but seq keeps counting", async () => {
		for (let i = 1; i <= 3; i++) await store.append(draft(channel, `m${i}`));
		expect(await store.purge(channel)).toBe(3);
		expect(await store.range(channel, 0, 10)).toEqual({ messages: [], oldestSeq: 4, lastSeq: 3 });
		expect((await store.append(draft(channel, "after purge"))).message.seq).toBe(4);
	});

	test("lastSeqs reports each channel's last seq, 0 for a new one", async () => {
		const other = randomUUID();
		await store.append(draft(channel, "a"));
		await store.append(draft(channel, "b"));
		expect(await store.lastSeqs([channel, other])).toEqual({ [channel]: 2, [other]: 0 });
	});

	test("ping answers", async () => {
		await expect(store.ping()).resolves.toBeUndefined();
	});
});

describe("history expiry", () => {
	test("MemoryHistory drops messages after the TTL and keeps the seq", async () => {
		let now = 1_000_000;
		const store = new MemoryHistory({ ...OPTIONS, ttlSeconds: 10, idempotencySeconds: 5 }, () => now);
		const channel = randomUUID();
		const first = await store.append(draft(channel, "old", "k"));
		now += 6_000;
		expect((await store.append(draft(channel, "again", "k"))).created).toBe(true); // idempotency window over
		now += 11_000;
		expect(await store.range(channel, 0, 10)).toEqual({ messages: [], oldestSeq: 3, lastSeq: 2 });
		expect(first.message.seq).toBe(1);
	});

	test("RedisHistory sets the TTL on messages, none on the seq counter", async () => {
		const keyPrefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;
		const store = new RedisHistory(REDIS_URL, { ...OPTIONS, ttlSeconds: 30, keyPrefix });
		const channel = randomUUID();
		await store.append(draft(channel, "x", "idem"));
		const redis = new Redis(REDIS_URL);
		try {
			const ttl = await redis.pttl(`${keyPrefix}{${channel}}:log`);
			expect(ttl).toBeGreaterThan(25_000);
			expect(ttl).toBeLessThanOrEqual(30_000);
			expect(await redis.pttl(`${keyPrefix}{${channel}}:seq`)).toBe(-1);
			expect(await redis.pttl(`${keyPrefix}{${channel}}:idem:idem`)).toBeGreaterThan(0);
		} finally {
			const keys = await redis.keys(`${keyPrefix}*`);
			if (keys.length) await redis.del(...keys);
			await redis.quit();
			await store.close();
		}
	});

	test("RedisHistory fails fast when Redis is unreachable", async () => {
		const store = new RedisHistory("redis://127.0.0.1:1", { ...OPTIONS, keyPrefix: "unused:" });
		const started = Date.now();
		await expect(store.append(draft(randomUUID(), "x"))).rejects.toThrow();
		await expect(store.ping(300)).rejects.toThrow(/not connected/);
		expect(Date.now() - started).toBeLessThan(3000);
		await store.close();
	});
});
