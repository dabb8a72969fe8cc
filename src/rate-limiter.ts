/**
 * Token buckets per client key (an address, later a user), shared by every node when they share Redis:
 * each key holds `burst` tokens, refilled at `perSecond`; an action that finds no token is refused with
 * the time until the next one. The Redis bucket is one Lua script (atomic, one round trip) and its key
 * expires once the bucket would be full again, so an idle client leaves nothing behind.
 *
 * @example
 *   const publishes = new MemoryRateLimiter({ burst: 30, perSecond: 5 });
 *   const { allowed, retryAfterMs } = await publishes.consume("203.0.113.9");
 */
import { connectRedis, type RedisConnection, type RedisTarget, sameSlotGroups } from "./redis-connection";

export interface RateLimit {
	/** Tokens a new (or long idle) client has: how many actions it may take at once. */
	burst: number;
	/** Tokens added per second, up to `burst`. */
	perSecond: number;
}

export interface RateDecision {
	allowed: boolean;
	/** When refused: how long until one token is there again. */
	retryAfterMs: number;
}

export interface RateLimiter {
	consume(key: string): Promise<RateDecision>;
}

/** How long a bucket takes to fill from empty: after that an idle key is forgotten. */
function fillMs(limit: RateLimit): number {
	return Math.ceil((limit.burst / limit.perSecond) * 1000);
}

/** The bucket arithmetic both limiters share: tokens at `now`, given what was left at `at`. */
export function takeToken(
	limit: RateLimit,
	state: { tokens: number; at: number } | undefined,
	now: number,
): { decision: RateDecision; tokens: number } {
	const refilled = state ? Math.min(limit.burst, state.tokens + ((now - state.at) * limit.perSecond) / 1000) : limit.burst;
	if (refilled >= 1) return { decision: { allowed: true, retryAfterMs: 0 }, tokens: refilled - 1 };
	return { decision: { allowed: false, retryAfterMs: Math.ceil(((1 - refilled) * 1000) / limit.perSecond) }, tokens: refilled };
}

/**
 * One process's buckets (the embedded default, or no Redis). Holds at most `maxKeys` buckets: when full,
 * buckets that have refilled completely are dropped first, then the oldest — a flood of new addresses
 * costs memory up to that bound, not more.
 */
export class MemoryRateLimiter implements RateLimiter {
	private readonly buckets = new Map<string, { tokens: number; at: number }>();

	constructor(
		private readonly limit: RateLimit,
		private readonly maxKeys = 100_000,
		private readonly now: () => number = Date.now,
	) {}

	async consume(key: string): Promise<RateDecision> {
		const now = this.now();
		const state = this.buckets.get(key);
		const { decision, tokens } = takeToken(this.limit, state, now);
		this.buckets.delete(key);
		if (this.buckets.size >= this.maxKeys) this.evict(now);
		this.buckets.set(key, { tokens, at: now });
		return decision;
	}

	/** Buckets held now (for tests and metrics). */
	get size(): number {
		return this.buckets.size;
	}

	private evict(now: number): void {
		const full = now - fillMs(this.limit);
		for (const [key, state] of this.buckets) if (state.at <= full) this.buckets.delete(key);
		// Map order is insertion order, and every consume re-inserts: the first key is the least recent.
		while (this.buckets.size >= this.maxKeys) {
			const oldest = this.buckets.keys().next();
			if (oldest.done) break;
			this.buckets.delete(oldest.value);
		}
	}
}

// KEYS: the buckets. ARGV: burst, per second, now ms, fill ms, then the tokens wanted per bucket.
// Returns, per bucket, {tokens granted, retry after ms (for the first one refused)}, flattened.
const TAKE_SCRIPT = `
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local result = {}
for i, key in ipairs(KEYS) do
  local wanted = tonumber(ARGV[4 + i])
  local state = redis.call('HMGET', key, 't', 'a')
  local tokens = burst
  if state[1] then
    tokens = math.min(burst, tonumber(state[1]) + (now - tonumber(state[2])) * rate / 1000)
  end
  local granted = math.min(wanted, math.floor(tokens))
  tokens = tokens - granted
  local retry = 0
  if granted < wanted then retry = math.ceil((1 - tokens) * 1000 / rate) end
  redis.call('HSET', key, 't', tostring(tokens), 'a', ARGV[3])
  redis.call('PEXPIRE', key, ARGV[4])
  result[2 * i - 1] = granted
  result[2 * i] = retry
end
return result
`;

interface Waiter {
	resolve: (decision: RateDecision) => void;
	reject: (err: unknown) => void;
}

/** A Redis connection for rate limits: they fail open and fast, a limiter must never be why a request hangs. */
export function rateLimitConnection(target: RedisTarget): RedisConnection {
	const redis = connectRedis(target, { maxRetriesPerRequest: 0, commandTimeout: 500, enableOfflineQueue: false });
	redis.on("error", () => undefined);
	return redis;
}

/**
 * Buckets in Redis, shared by every node of the cluster. Everything asked in one event-loop turn is
 * decided in one script call: requests of one client that arrive together take their tokens first come
 * first served, and requests of many clients cost one round trip, not one each — in a Redis Cluster,
 * one call per hash slot (a script may only take keys of one slot there). Redis's clock is not used: nodes pass their own `now`, so
 * nodes whose clocks differ by Δ let a client refill Δ early at most.
 */
export class RedisRateLimiter implements RateLimiter {
	/** What this turn's call will decide, per key. */
	private waiting = new Map<string, Waiter[]>();

	constructor(
		private readonly redis: RedisConnection,
		private readonly keyPrefix: string,
		private readonly limit: RateLimit,
	) {
		// numberOfKeys is given per call: the script takes as many buckets as the turn has. Limiters that share
		// the connection define the same script again, which ioredis takes as the same command.
		redis.defineCommand("chatcastTakeTokens", { lua: TAKE_SCRIPT });
	}

	consume(key: string): Promise<RateDecision> {
		return new Promise((resolve, reject) => {
			if (this.waiting.size === 0) setImmediate(() => void this.take());
			const queue = this.waiting.get(key);
			if (queue) queue.push({ resolve, reject });
			else this.waiting.set(key, [{ resolve, reject }]);
		});
	}

	private async take(): Promise<void> {
		const batch = this.waiting;
		this.waiting = new Map();
		const bucket = (key: string): string => `${this.keyPrefix}${key}`;
		await Promise.all(sameSlotGroups(this.redis, [...batch.keys()], bucket).map(keys => this.takeGroup(keys, bucket, batch)));
	}

	/** One script call for keys whose buckets share a slot; answers their waiters. */
	private async takeGroup(keys: string[], bucket: (key: string) => string, batch: Map<string, Waiter[]>): Promise<void> {
		const waiters = keys.map(key => batch.get(key) ?? []);
		try {
			const result = await this.redis.chatcastTakeTokens(
				keys.length,
				...keys.map(bucket),
				this.limit.burst,
				this.limit.perSecond,
				Date.now(),
				fillMs(this.limit),
				...waiters.map(queue => queue.length),
			);
			waiters.forEach((queue, k) => {
				const [granted, retryAfterMs] = [result[2 * k], result[2 * k + 1]];
				for (const [i, waiter] of queue.entries()) waiter.resolve(i < granted ? ALLOWED : { allowed: false, retryAfterMs });
			});
		} catch (err) {
			for (const queue of waiters) for (const waiter of queue) waiter.reject(err);
		}
	}
}

const ALLOWED: RateDecision = { allowed: true, retryAfterMs: 0 };
