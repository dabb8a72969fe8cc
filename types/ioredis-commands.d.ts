/**
 * Chatcast's Lua scripts as ioredis commands (defined with `defineCommand` in src/redis-history.ts and
 * src/rate-limiter.ts), on connections, clusters and pipelines alike: ioredis's documented way to type them.
 */
import type { Result } from "ioredis";

declare module "ioredis" {
	interface RedisCommander<Context> {
		/**
		 * `keyCount` (4 per append: head, log, idem, interest), the keys, then limit, ttl ms, idempotency ms, rewrite
		 * repeats, then 4 per append (body, has clientMsgId, epoch, publisher); see APPEND_SCRIPT. Answers, per
		 * append, [1 created | 0 repeat, message JSON, 1 listened | 0] or its error.
		 */
		chatcastAppend(keyCount: number, ...keysThenArgs: Array<string | number>): Result<Array<[number, string, number] | Error>, Context>;
		/** KEY interest; see MARK_SCRIPT: the listener's field set to its expiry. */
		chatcastMark(interestKey: string, listener: string, ttlMs: number): Result<number, Context>;
		/** KEYS head, log; see RANGE_SCRIPT. Answers [lastSeq, epoch, oldest score or null, messages]. */
		chatcastRange(
			headKey: string,
			logKey: string,
			after: number,
			limit: number,
			maxBytes: number,
		): Result<[number, string, string | null, string[]], Context>;
		/** The buckets first (`keyCount` of them), then the arguments; see TAKE_SCRIPT. */
		chatcastTakeTokens(keyCount: number, ...keysThenArgs: Array<string | number>): Result<number[], Context>;
	}
}
