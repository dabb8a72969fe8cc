/**
 * RedisHistory against real Redis (unique key prefix, cleaned up): the store contract, key lifetimes,
 * and failing fast when Redis is away.
 */
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import { RedisHistory } from "../../src/redis-history";
import { CONTRACT_OPTIONS, draft, historyStoreContract } from "../support/history-store-contract";
import { REDIS_URL } from "../support/node-process";

async function deleteKeys(pattern: string): Promise<void> {
	const redis = new Redis(REDIS_URL);
	try {
		const keys = await redis.keys(pattern);
		if (keys.length > 0) await redis.del(...keys);
	} finally {
		await redis.quit();
	}
}

const prefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;
historyStoreContract("RedisHistory", {
	create: () => new RedisHistory(REDIS_URL, { ...CONTRACT_OPTIONS, keyPrefix: prefix }),
	// A restart (or, later, expiry) loses the channel's keys; the same store goes on.
	async restart(store, channel) {
		await deleteKeys(`${prefix}{${channel}}:*`);
		return store;
	},
	cleanup: () => deleteKeys(`${prefix}*`),
});

describe("RedisHistory keys", () => {
	test("messages get the TTL; the head (seq and epoch, one hash) has none yet", async () => {
		const keyPrefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;
		const store = new RedisHistory(REDIS_URL, { ...CONTRACT_OPTIONS, ttlSeconds: 30, keyPrefix });
		const channel = randomUUID();
		const { message } = await store.append(draft(channel, "x", "idem"));
		const redis = new Redis(REDIS_URL);
		try {
			const ttl = await redis.pttl(`${keyPrefix}{${channel}}:log`);
			expect(ttl).toBeGreaterThan(25_000);
			expect(ttl).toBeLessThanOrEqual(30_000);
			expect(await redis.hgetall(`${keyPrefix}{${channel}}:head`)).toEqual({ seq: "1", epoch: message.epoch });
			expect(await redis.pttl(`${keyPrefix}{${channel}}:head`)).toBe(-1);
			expect(await redis.pttl(`${keyPrefix}{${channel}}:idem:idem`)).toBeGreaterThan(0);
		} finally {
			await redis.quit();
			await store.close();
			await deleteKeys(`${keyPrefix}*`);
		}
	});

	test("fails fast when Redis is unreachable", async () => {
		const store = new RedisHistory("redis://127.0.0.1:1", { ...CONTRACT_OPTIONS, keyPrefix: "unused:" });
		const started = Date.now();
		await expect(store.append(draft(randomUUID(), "x"))).rejects.toThrow();
		await expect(store.ping(300)).rejects.toThrow(/not connected/);
		expect(Date.now() - started).toBeLessThan(3000);
		await store.close();
	});
});
