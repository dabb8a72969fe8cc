import { MemoryRateLimiter, takeToken } from "../../src/rate-limiter";

describe("token buckets", () => {
	const limit = { burst: 3, perSecond: 2 };

	test("a burst is allowed, then one action per refill interval, with the wait said", async () => {
		let now = 1_000_000;
		const limiter = new MemoryRateLimiter(limit, 10, () => now);
		for (let i = 0; i < 3; i++) expect((await limiter.consume("a")).allowed).toBe(true);
		expect(await limiter.consume("a")).toEqual({ allowed: false, retryAfterMs: 500 });
		expect((await limiter.consume("b")).allowed).toBe(true);
		now += 500;
		expect((await limiter.consume("a")).allowed).toBe(true);
		expect((await limiter.consume("a")).allowed).toBe(false);
	});

	test("a bucket refills up to its burst, not beyond", () => {
		const { tokens } = takeToken(limit, { tokens: 0, at: 0 }, 60_000);
		expect(tokens).toBe(limit.burst - 1);
	});

	test("a flood of new keys holds at most maxKeys buckets", async () => {
		let now = 0;
		const limiter = new MemoryRateLimiter(limit, 100, () => now);
		for (let i = 0; i < 10_000; i++) {
			now++;
			await limiter.consume(`10.0.${i >> 8}.${i & 255}`);
		}
		expect(limiter.size).toBeLessThanOrEqual(100);
	});
});
