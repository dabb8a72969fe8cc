/**
 * History in Redis.
 *
 * Per channel (the `{channel}` hash tag keeps a channel's keys in one Redis Cluster slot):
 * - `<prefix>{<channel>}:head` — hash `{ seq, epoch }`: the last seq and the epoch it counts in. The epoch
 *   is created with the counter, in the append script, so a head that is ever created again (deleted,
 *   lost, or later expired) counts in a new epoch. No TTL yet, so with a `volatile-*` eviction policy
 *   Redis evicts messages, never heads;
 * - `<prefix>{<channel>}:log` — sorted set of message JSON scored by seq, trimmed to `limit`, TTL refreshed on append;
 * - `<prefix>{<channel>}:idem:<clientMsgId>` — the stored message, for the idempotency window.
 * Numbering, writing, trimming and the idempotency check happen in one Lua script, so they are atomic;
 * the epoch id comes from Node (`newEpoch()`), used only when the head has none.
 *
 * @example
 *   const store = new RedisHistory("redis://127.0.0.1:6379", { keyPrefix: "chatcast:", limit: 1000, ttlSeconds: 86400, idempotencySeconds: 600 });
 */
import Redis from "ioredis";
import type { ChatMessage, MessageDraft } from "./message";
import {
	type AppendResult,
	type ChannelHead,
	type HistoryPage,
	type HistoryStore,
	type HistoryStoreOptions,
	newEpoch,
} from "./history-store";

// KEYS: head, log, idem. ARGV: message JSON without its opening "{", limit, ttl ms, idempotency ms,
// has clientMsgId, epoch for a head created now.
const APPEND_SCRIPT = `
if ARGV[5] == '1' then
  local original = redis.call('GET', KEYS[3])
  if original then return {0, original} end
end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[6])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local message = '{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. ARGV[1]
redis.call('ZADD', KEYS[2], seq, message)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if ARGV[5] == '1' then redis.call('SET', KEYS[3], message, 'PX', ARGV[4]) end
return {1, message}
`;

// KEYS: head, log. ARGV: after, limit. Returns {lastSeq, epoch, oldest score or false, messages}: one consistent snapshot.
const RANGE_SCRIPT = `
local head = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local messages = {}
if tonumber(ARGV[2]) > 0 then
  messages = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])
end
return {tonumber(head[1] or '0'), head[2] or '', oldest[2] or false, messages}
`;

interface ChatcastRedis extends Redis {
	chatcastAppend(
		headKey: string,
		logKey: string,
		idemKey: string,
		body: string,
		limit: number,
		ttlMs: number,
		idemMs: number,
		hasIdem: string,
		epoch: string,
	): Promise<[number, string]>;
	chatcastRange(
		headKey: string,
		logKey: string,
		after: number,
		limit: number,
	): Promise<[number, string, string | null, string[]]>;
}

export interface RedisHistoryOptions extends HistoryStoreOptions {
	/** Prefix of every key, e.g. "chatcast:" — tests use a unique one per run. */
	keyPrefix: string;
}

export class RedisHistory implements HistoryStore {
	private readonly redis: ChatcastRedis;

	constructor(
		url: string,
		private readonly options: RedisHistoryOptions,
	) {
		this.redis = new Redis(url, {
			// Fail fast: a publish must be answered 503 within a couple of seconds when Redis is away, not hang.
			maxRetriesPerRequest: 1,
			commandTimeout: 2000,
			retryStrategy: times => Math.min(times * 200, 2000),
		}) as ChatcastRedis;
		// Connection errors surface through ping() and failed commands; keep ioredis from logging each retry.
		this.redis.on("error", () => undefined);
		this.redis.defineCommand("chatcastAppend", { numberOfKeys: 3, lua: APPEND_SCRIPT });
		this.redis.defineCommand("chatcastRange", { numberOfKeys: 2, lua: RANGE_SCRIPT });
	}

	async append(draft: MessageDraft): Promise<AppendResult> {
		const keys = this.keys(draft.channel);
		const body = JSON.stringify(draft).slice(1);
		const hasIdem = draft.clientMsgId !== undefined;
		const [created, json] = await this.redis.chatcastAppend(
			keys.head,
			keys.log,
			hasIdem ? `${keys.idem}${draft.clientMsgId}` : keys.idem,
			body,
			this.options.limit,
			this.options.ttlSeconds * 1000,
			this.options.idempotencySeconds * 1000,
			hasIdem ? "1" : "0",
			newEpoch(),
		);
		return { message: JSON.parse(json) as ChatMessage, created: created === 1 };
	}

	async range(channel: string, after: number, limit: number): Promise<HistoryPage> {
		const keys = this.keys(channel);
		const [lastSeq, epoch, oldest, raw] = await this.redis.chatcastRange(keys.head, keys.log, after, limit);
		return {
			epoch,
			messages: raw.map(json => JSON.parse(json) as ChatMessage),
			oldestSeq: oldest === null ? lastSeq + 1 : Number(oldest),
			lastSeq,
		};
	}

	async lastSeqs(channels: string[]): Promise<Record<string, ChannelHead>> {
		// One HMGET per channel, sent together: keys of different channels may live on different cluster nodes.
		const heads = await Promise.all(channels.map(channel => this.redis.hmget(this.keys(channel).head, "seq", "epoch")));
		return Object.fromEntries(
			channels.map((channel, i) => {
				const [seq, epoch] = heads[i];
				return [channel, { epoch: epoch ?? "", lastSeq: Number(seq ?? 0) }];
			}),
		);
	}

	async purge(channel: string): Promise<number> {
		const keys = this.keys(channel);
		const [[, count]] = (await this.redis.multi().zcard(keys.log).del(keys.log).exec()) as [[Error | null, number]];
		return count;
	}

	/** Waits for the connection (up to `timeoutMs`) and checks Redis answers. */
	async ping(timeoutMs = 2000): Promise<void> {
		if (this.redis.status !== "ready") {
			await new Promise<void>((resolve, reject) => {
				const timer = setTimeout(() => {
					cleanup();
					reject(new Error(`Redis not connected (status: ${this.redis.status})`));
				}, timeoutMs);
				const onReady = (): void => {
					cleanup();
					resolve();
				};
				const cleanup = (): void => {
					clearTimeout(timer);
					this.redis.off("ready", onReady);
				};
				this.redis.once("ready", onReady);
			});
		}
		await this.redis.ping();
	}

	async close(): Promise<void> {
		if (this.redis.status === "ready") await this.redis.quit().catch(() => undefined);
		this.redis.disconnect();
	}

	private keys(channel: string): { head: string; log: string; idem: string } {
		const base = `${this.options.keyPrefix}{${channel}}`;
		return { head: `${base}:head`, log: `${base}:log`, idem: `${base}:idem:` };
	}
}
