/**
 * The Redis token buckets: what one event-loop turn asks is decided in one script call, per key first
 * come first served, with every key independent and expiring once full again.
 */
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import { RedisRateLimiter } from "../../src/rate-limiter";
import { REDIS_URL } from "../support/node-process";

const prefix = `test-rl-${randomUUID().slice(0, 8)}:`;
const redis = new Redis(REDIS_URL);

afterAll(async () => {
	const keys = await redis.keys(`${prefix}*`);
	if (keys.length > 0) await redis.del(...keys);
	await redis.quit();
});

test("requests that arrive together take their tokens in order; other keys are independent", async () => {
	const limiter = new RedisRateLimiter(redis, prefix, { burst: 3, perSecond: 1 });
	const a = await Promise.all(Array.from({ length: 5 }, () => limiter.consume("a")));
	const [b] = await Promise.all([limiter.consume("b"), limiter.consume("a")]);
	expect(a.map(d => d.allowed)).toEqual([true, true, true, false, false]);
	expect(a[3].retryAfterMs).toBeGreaterThan(0);
	expect(a[3].retryAfterMs).toBeLessThanOrEqual(1000);
	expect(b.allowed).toBe(true);
});

test("two limiters on one Redis share the bucket (as two nodes do)", async () => {
	const limit = { burst: 2, perSecond: 0.5 };
	const other = new Redis(REDIS_URL);
	const [one, two] = [new RedisRateLimiter(redis, prefix, limit), new RedisRateLimiter(other, prefix, limit)];
	expect((await one.consume("shared")).allowed).toBe(true);
	expect((await two.consume("shared")).allowed).toBe(true);
	expect((await one.consume("shared")).allowed).toBe(false);
	expect((await two.consume("shared")).allowed).toBe(false);
	await other.quit();
});

test("a bucket key expires once it would be full again", async () => {
	const limiter = new RedisRateLimiter(redis, prefix, { burst: 4, perSecond: 2 });
	await limiter.consume("ttl");
	const ttl = await redis.pttl(`${prefix}ttl`);
	expect(ttl).toBeGreaterThan(0);
	expect(ttl).toBeLessThanOrEqual(2000);
});
