/**
 * History in Redis.
 *
 * Per channel (the `{channel}` hash tag keeps a channel's keys in one Redis Cluster slot):
 * - `<prefix>{<channel>}:head` — hash `{ seq, epoch }`: the last seq and the epoch it counts in. The epoch
 *   is created with the counter, in the append script, so a head that is created again (deleted, lost,
 *   or expired) counts in a new epoch. TTL refreshed on append, like the log's: a channel is forgotten
 *   `ttlSeconds` after its last message;
 * - `<prefix>{<channel>}:log` — sorted set of message JSON scored by seq, trimmed to `limit`, TTL refreshed on append;
 * - `<prefix>{<channel>}:idem:<clientMsgId>` — the stored message, for the idempotency window.
 * Every key has a lifetime, so Redis runs with `maxmemory-policy noeviction`: when it is full it refuses
 * appends (STORE_FULL) instead of evicting anyone's history.
 * Numbering, writing, trimming and the idempotency check happen in one Lua script, so they are atomic;
 * the epoch id comes from Node (`newEpoch()`), used only when the head has none.
 *
 * @example
 *   const store = new RedisHistory("redis://127.0.0.1:6379", { keyPrefix: "chatcast:", limit: 1000, ttlSeconds: 86400, idempotencySeconds: 600, pageMaxBytes: 262144 });
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
	PAGE_MAX_BYTES,
	type StoreMemory,
} from "./history-store";
import { StoreNotReached } from "./store-errors";

// KEYS: head, log, idem. ARGV: message JSON without its opening "{", limit, ttl ms, idempotency ms,
// has clientMsgId, epoch for a head created now.
// Every check comes before the first write (a key of the wrong type, e.g. one someone SET, would fail a
// write halfway): an error reply then means nothing was stored and no seq was used.
const APPEND_SCRIPT = `
local function holds(key, kind)
  local found = redis.call('TYPE', key)['ok']
  return found == 'none' or found == kind
end
if not (holds(KEYS[1], 'hash') and holds(KEYS[2], 'zset') and (ARGV[5] ~= '1' or holds(KEYS[3], 'string'))) then
  return redis.error_reply('WRONGTYPE a key of this channel holds the wrong kind of value')
end
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
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[5] == '1' then redis.call('SET', KEYS[3], message, 'PX', ARGV[4]) end
return {1, message}
`;

// KEYS: head, log. ARGV: after, limit, max bytes. Returns {lastSeq, epoch, oldest score or false, messages}:
// one consistent snapshot. Reads in small batches, so a page of large messages stops at the byte bound
// without the script holding `limit` of them.
const RANGE_SCRIPT = `
local head = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local messages, bytes, after, full = {}, 0, ARGV[1], false
local limit, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[3])
while not full and #messages < limit do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, math.min(16, limit - #messages))
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    bytes = bytes + #batch[i]
    if bytes > maxBytes and #messages > 0 then
      full = true
      break
    end
    messages[#messages + 1] = batch[i]
    after = batch[i + 1]
  end
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
		maxBytes: number,
	): Promise<[number, string, string | null, string[]]>;
}

/** How long a command waits for the connection (at start, or while it reconnects) before it is refused unsent. */
const CONNECT_WAIT_MS = 1000;

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
			// A command is sent now or never: none waits in a queue (or is sent again after a reconnect) to run
			// after its caller was answered, so "not sent" (StoreNotReached) means not stored (src/store-errors.ts).
			enableOfflineQueue: false,
			autoResendUnfulfilledCommands: false,
			// close() must not keep the process alive waiting for a Redis that is gone.
			disconnectTimeout: 0,
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
		const redis = await this.connected();
		const [created, json] = await redis.chatcastAppend(
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
		const redis = await this.connected();
		const [lastSeq, epoch, oldest, raw] = await redis.chatcastRange(
			keys.head,
			keys.log,
			after,
			limit,
			this.options.pageMaxBytes ?? PAGE_MAX_BYTES,
		);
		return {
			epoch,
			messages: raw.map(json => JSON.parse(json) as ChatMessage),
			oldestSeq: oldest === null ? lastSeq + 1 : Number(oldest),
			lastSeq,
		};
	}

	async lastSeqs(channels: string[]): Promise<Record<string, ChannelHead>> {
		// One HMGET per channel, sent together: keys of different channels may live on different cluster nodes.
		const redis = await this.connected();
		const heads = await Promise.all(channels.map(channel => redis.hmget(this.keys(channel).head, "seq", "epoch")));
		return Object.fromEntries(
			channels.map((channel, i) => {
				const [seq, epoch] = heads[i];
				return [channel, { epoch: epoch ?? "", lastSeq: Number(seq ?? 0) }];
			}),
		);
	}

	async purge(channel: string): Promise<number> {
		const keys = this.keys(channel);
		const redis = await this.connected();
		const [[, count]] = (await redis.multi().zcard(keys.log).del(keys.log).exec()) as [[Error | null, number]];
		return count;
	}

	/** Waits for the connection (up to `timeoutMs`), then reads Redis's memory state (which also checks it answers). */
	async ping(timeoutMs = 2000): Promise<StoreMemory> {
		const redis = await this.connected(timeoutMs);
		return parseMemory(await redis.info("memory"));
	}

	async close(): Promise<void> {
		if (this.redis.status === "ready") await this.redis.quit().catch(() => undefined);
		this.redis.disconnect();
	}

	/**
	 * The connection once it is ready (waiting up to `timeoutMs`, e.g. while it reconnects): a command issued
	 * on it is written at once (no offline queue). Otherwise StoreNotReached: the command is never sent.
	 */
	private async connected(timeoutMs = CONNECT_WAIT_MS): Promise<ChatcastRedis> {
		if (this.redis.status !== "ready" && this.redis.status !== "end") {
			await new Promise<void>(resolve => {
				const done = (): void => {
					clearTimeout(timer);
					this.redis.off("ready", done);
					resolve();
				};
				const timer = setTimeout(done, timeoutMs);
				this.redis.once("ready", done);
			});
		}
		if (this.redis.status !== "ready") throw new StoreNotReached(`Redis not connected (status: ${this.redis.status})`);
		return this.redis;
	}

	private keys(channel: string): { head: string; log: string; idem: string } {
		const base = `${this.options.keyPrefix}{${channel}}`;
		return { head: `${base}:head`, log: `${base}:log`, idem: `${base}:idem:` };
	}
}

/** `used_memory` and `maxmemory` from `INFO memory`. */
function parseMemory(info: string): StoreMemory {
	const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1] ?? 0);
	return { usedBytes: field("used_memory"), maxBytes: field("maxmemory") };
}
