/**
 * History in Redis: one server, a Sentinel-managed master or a Redis Cluster (src/redis-connection.ts).
 *
 * Per channel (the `{channel}` hash tag keeps a channel's keys in one Redis Cluster slot, so every
 * script below runs on one shard and touches only the keys it declares):
 * - `<prefix>{<channel>}:head` — hash `{ seq, epoch, rid }`: the last seq, the epoch it counts in, and
 *   the replication id of the master that counted. The epoch is created with the counter, in the append
 *   script, so a head that is created again (deleted, lost, or expired) counts in a new epoch; a head
 *   that another master counted (a failover or a restart since the last append) goes on in a new epoch
 *   too, since what that master acknowledged last may never have reached this one. TTL refreshed on
 *   append, like the log's: a channel is forgotten `ttlSeconds` after its last message;
 * - `<prefix>{<channel>}:log` — sorted set of message JSON scored by seq, trimmed to `limit`, TTL refreshed on append;
 * - `<prefix>{<channel>}:idem:<clientMsgId>` — the stored message, for the idempotency window;
 * - `<prefix>{<channel>}:interest` — hash of the nodes listening to the channel (`markInterest`: listener id →
 *   expiry, TTL INTEREST_TTL_MS, refreshed by every node that still wants it). The append script reads it in
 *   the same atomic step and answers `listened`: a publisher skips the channel-bus packet of a channel no
 *   other node marked (its own streams get the message in-process; the broker's echo would be dropped).
 *   Why no message is missed: a joining node writes the mark and gets its SUBACK before it reads its
 *   position from history, so an append is either ordered before that read (and in it) or sees the mark
 *   (and is published after the subscription exists). After a failover the new master may lack a mark:
 *   live delivery of that channel then waits for the next refresh (≤ INTEREST_REFRESH_MS) and the
 *   hub's heads check (SSE_RESYNC_MS), which repairs what was skipped from history.
 * Every key has a lifetime, so Redis runs with `maxmemory-policy noeviction`: when it is full it refuses
 * appends (STORE_FULL) instead of evicting anyone's history.
 * Numbering, writing, trimming and the idempotency check happen in one Lua script, so they are atomic;
 * the epoch id comes from Node (`newEpoch()`), used only when the head needs a new one. With
 * `minReplicas`, an append is answered only after `WAIT` saw that many replicas take it.
 *
 * @example
 *   const store = new RedisHistory("redis://127.0.0.1:6379", { keyPrefix: "chatcast:", limit: 1000, ttlSeconds: 86400, idempotencySeconds: 600, pageMaxBytes: 262144 });
 */
import type { ChatMessage, MessageDraft } from "./message";
import {
	ANONYMOUS_LISTENER,
	type AppendResult,
	type ChannelHead,
	type HistoryPage,
	type HistoryStore,
	type HistoryStoreOptions,
	INTEREST_TTL_MS,
	newEpoch,
	PAGE_MAX_BYTES,
	type StoreMemory,
} from "./history-store";
import {
	closeRedis,
	connectRedis,
	masters,
	type RedisConnection,
	type RedisTarget,
	sameSlotGroups,
	whenReady,
} from "./redis-connection";
import { ReplicasUnconfirmed, StoreNotReached } from "./store-errors";

// A turn's appends in one call (APPEND_BATCH at most): KEYS per append: head, log, idem, interest. ARGV: limit,
// ttl ms, idempotency ms, rewrite a repeat's original ("1": so that a WAIT after it covers the original too,
// however it was written); then per append: message JSON without its opening "{", has clientMsgId, epoch for
// a head that needs a new one, the publisher's listener id ("" unknown). Replies, one per append, in order:
// {1, message, listened} stored now, {0, original, listened} a repeat, or an error reply (nothing stored).
// `listened`: some listener other than the publisher marked the channel (the publisher's own streams get
// the message in-process; an interest key of another kind counts as listened).
// Each append reads before it writes, and its first write (ZADD) is the one a key of the wrong type or a full
// Redis (OOM, checked at a script's first write) can refuse: an error reply then means nothing of that
// append was stored and no seq was used (the head's HMGET and the idempotency GET refuse a wrong type
// before; a head's seq that is not a count is refused before too). The replication id is read once per
// call: a script is atomic, so one master counted every append of it. A head that has its epoch and this
// master's rid gets its seq only: the common append writes one head field.
const APPEND_SCRIPT = `
local limit, ttl, idemTtl, rewrite = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local rid
local function append(head, log, idem, interest, body, hasIdem, newEpoch, publisher)
  local counted = redis.pcall('HMGET', head, 'epoch', 'rid', 'seq')
  if counted.err then return counted end
  local listeners = redis.pcall('HLEN', interest)
  local listened = 1
  if type(listeners) == 'number' and (listeners == 0 or (listeners == 1 and redis.call('HEXISTS', interest, publisher) == 1)) then
    listened = 0
  end
  if hasIdem == '1' then
    local original = redis.pcall('GET', idem)
    if type(original) == 'table' then return original end
    if original then
      if rewrite == '1' then redis.call('SET', idem, original, 'KEEPTTL') end
      return {0, original, listened}
    end
  end
  local last = counted[3] or '0'
  if not string.find(last, '^%d+$') then return redis.error_reply('WRONGTYPE the head of this channel holds no count') end
  local seq = tonumber(last) + 1
  rid = rid or string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
  local epoch, fields = counted[1], {'seq', seq}
  if not epoch or (counted[2] and counted[2] ~= rid) then
    epoch = newEpoch
    fields[3], fields[4] = 'epoch', epoch
  end
  if counted[2] ~= rid then fields[#fields + 1], fields[#fields + 2] = 'rid', rid end
  local message = '{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. body
  local added = redis.pcall('ZADD', log, seq, message)
  if type(added) == 'table' then return added end
  redis.call('HSET', head, unpack(fields))
  redis.call('ZREMRANGEBYRANK', log, 0, -(limit + 1))
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', head, ttl)
  if hasIdem == '1' then redis.call('SET', idem, message, 'PX', idemTtl) end
  return {1, message, listened}
end
local replies = {}
for i = 1, #KEYS / 4 do
  local k, a = (i - 1) * 4, 4 + (i - 1) * 4
  replies[i] = append(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
end
return replies
`;

/**
 * Appends per script call at most: a script is atomic, so this bounds how long one call holds Redis, and how
 * far past maxmemory one call may go (Redis checks OOM at a script's first write only).
 */
const APPEND_BATCH = 64;

// KEYS: interest. ARGV: listener id, ttl ms. The listener's field holds its expiry (Redis's clock); fields
// past theirs (listeners that stopped refreshing) are dropped, and the key lives as long as the newest.
const MARK_SCRIPT = `
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' and kind ~= 'none' then redis.call('DEL', KEYS[1]) end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local marks = redis.call('HGETALL', KEYS[1])
for i = 1, #marks, 2 do
  if tonumber(marks[i + 1]) <= now then redis.call('HDEL', KEYS[1], marks[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
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

/** How long a command waits for the connection (at start, or while it reconnects) before it is refused unsent. */
const CONNECT_WAIT_MS = 1000;

export interface RedisHistoryOptions extends HistoryStoreOptions {
	/** Prefix of every key, e.g. "chatcast:" — tests use a unique one per run. */
	keyPrefix: string;
	/** Replicas that must have an append (`WAIT`) before it is answered; default 0: the master's word. */
	minReplicas?: number;
	/** How long an append waits for them; then ReplicasUnconfirmed (OUTCOME_UNKNOWN). Default 1000. */
	waitTimeoutMs?: number;
	/** Lifetime of an interest mark (`markInterest`); default INTEREST_TTL_MS (tests shorten it). */
	interestTtlMs?: number;
}

export class RedisHistory implements HistoryStore {
	private readonly redis: RedisConnection;
	private readonly minReplicas: number;
	private readonly waitTimeoutMs: number;
	/** The appends asked in this event-loop turn, sent together (see append). */
	private turn: PendingAppend[] = [];

	/** `target`: a REDIS_URL, or where the Sentinels or the Cluster are. */
	constructor(
		target: RedisTarget | string,
		private readonly options: RedisHistoryOptions,
	) {
		this.minReplicas = options.minReplicas ?? 0;
		this.waitTimeoutMs = options.waitTimeoutMs ?? 1000;
		this.redis = connectRedis(typeof target === "string" ? { kind: "server", url: target } : target, {
			// Fail fast: a publish must be answered 503 within a couple of seconds when Redis is away, not hang.
			maxRetriesPerRequest: 1,
			// WAIT's own timeout must come first: it answers how many replicas confirmed (ReplicasUnconfirmed).
			commandTimeout: Math.max(2000, this.waitTimeoutMs + 1000),
			// Tries again at least every 500 ms: after a Sentinel failover, a connection is back at most that long
			// after the promotion (a longer wait was a second or two more of refused publishes in the multi-host test).
			retryStrategy: times => Math.min(times * 100, 500),
			// A command is sent now or never: none waits in a queue (or is sent again after a reconnect) to run
			// after its caller was answered, so "not sent" (StoreNotReached) means not stored (src/store-errors.ts).
			enableOfflineQueue: false,
			autoResendUnfulfilledCommands: false,
			// close() must not keep the process alive waiting for a Redis that is gone.
			disconnectTimeout: 0,
		});
		// Connection errors surface through ping() and failed commands; keep ioredis from logging each retry.
		this.redis.on("error", () => undefined);
		this.redis.defineCommand("chatcastAppend", { lua: APPEND_SCRIPT });
		this.redis.defineCommand("chatcastRange", { numberOfKeys: 2, lua: RANGE_SCRIPT });
		this.redis.defineCommand("chatcastMark", { numberOfKeys: 1, lua: MARK_SCRIPT });
	}

	/**
	 * Appends are sent per event-loop turn: every append asked in one turn goes out in one pipeline (one
	 * socket write instead of one per append; in a Cluster, one per hash slot), as one script call per
	 * APPEND_BATCH of them (one command for ioredis and Redis to handle instead of one per append), in the
	 * order asked, so a channel's seqs follow the order of its appends. With `minReplicas`, one WAIT after the turn's scripts
	 * confirms them all (WAIT counts the replicas that have every write the connection made before it).
	 */
	append(draft: MessageDraft, publisher = ""): Promise<AppendResult> {
		return new Promise((resolve, reject) => {
			if (this.turn.length === 0) setImmediate(() => void this.sendTurn());
			this.turn.push({ draft, publisher, resolve, reject });
		});
	}

	private async sendTurn(): Promise<void> {
		const batch = this.turn;
		this.turn = [];
		let redis: RedisConnection;
		try {
			redis = await this.connected();
		} catch (err) {
			for (const append of batch) append.reject(err);
			return;
		}
		const groups = sameSlotGroups(redis, batch, append => this.keys(append.draft.channel).head);
		await Promise.all(groups.map(group => this.sendGroup(redis, group)));
	}

	/**
	 * One pipeline of appends whose keys share a slot (all of them, outside a Cluster): one script call per
	 * APPEND_BATCH of them; answers each.
	 */
	private async sendGroup(redis: RedisConnection, group: PendingAppend[]): Promise<void> {
		const pipeline = redis.pipeline();
		const calls: PendingAppend[][] = [];
		for (let i = 0; i < group.length; i += APPEND_BATCH) calls.push(group.slice(i, i + APPEND_BATCH));
		for (const call of calls) pipeline.chatcastAppend(call.length * 4, ...this.appendArgs(call));
		if (this.minReplicas > 0) pipeline.wait(this.minReplicas, this.waitTimeoutMs);
		let replies: [Error | null, unknown][];
		try {
			replies = (await pipeline.exec()) ?? [];
		} catch (err) {
			for (const append of group) append.reject(err);
			return;
		}
		const unconfirmed = this.minReplicas > 0 ? this.unconfirmed(replies[calls.length]) : undefined;
		calls.forEach((call, i) => {
			const [error, reply] = replies[i] ?? [new Error("no reply in the pipeline"), undefined];
			call.forEach((append, j) => {
				if (error) append.reject(error);
				else if (unconfirmed) append.reject(unconfirmed);
				else settle(append, Array.isArray(reply) ? reply[j] : undefined);
			});
		});
	}

	/** Why a WAIT's reply does not confirm the turn's appends; undefined when it does. */
	private unconfirmed(wait: [Error | null, unknown] | undefined): Error | undefined {
		const [error, replicas] = wait ?? [new Error("no reply to WAIT"), 0];
		if (error) return error;
		if (typeof replicas === "number" && replicas >= this.minReplicas) return undefined;
		return new ReplicasUnconfirmed(`WAIT: ${String(replicas)} of ${this.minReplicas} replicas within ${this.waitTimeoutMs} ms`);
	}

	/** One script call's keys, then its arguments (APPEND_SCRIPT). */
	private appendArgs(call: PendingAppend[]): Array<string | number> {
		const keys: string[] = [];
		const args: Array<string | number> = [
			this.options.limit,
			this.options.ttlSeconds * 1000,
			this.options.idempotencySeconds * 1000,
			this.minReplicas > 0 ? "1" : "0",
		];
		for (const { draft, publisher } of call) {
			const { head, log, idem, interest } = this.keys(draft.channel);
			const hasIdem = draft.clientMsgId !== undefined;
			keys.push(head, log, hasIdem ? `${idem}${draft.clientMsgId}` : idem, interest);
			args.push(JSON.stringify(draft).slice(1), hasIdem ? "1" : "0", newEpoch(), publisher);
		}
		return [...keys, ...args];
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

	/**
	 * Marks channels as listened to by `listener` for `interestTtlMs`: one pipeline (per hash slot, in a
	 * Cluster) of MARK_SCRIPT calls. Resolves once Redis holds every mark, so an append after it by any other
	 * publisher answers `listened: true`.
	 *
	 * @example
	 *   await store.markInterest([channel], bus.id); // then subscribe, then read the position
	 */
	async markInterest(channels: readonly string[], listener = ANONYMOUS_LISTENER): Promise<void> {
		const redis = await this.connected();
		const ttl = this.options.interestTtlMs ?? INTEREST_TTL_MS;
		const groups = sameSlotGroups(redis, [...channels], channel => this.keys(channel).interest);
		await Promise.all(
			groups.map(async group => {
				const pipeline = redis.pipeline();
				for (const channel of group) pipeline.chatcastMark(this.keys(channel).interest, listener, ttl);
				for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
			}),
		);
	}

	async purge(channel: string): Promise<number> {
		const keys = this.keys(channel);
		const redis = await this.connected();
		const [[, count]] = (await redis.multi().zcard(keys.log).del(keys.log).exec()) as [[Error | null, number]];
		return count;
	}

	/**
	 * Waits for the connection (up to `timeoutMs`), then reads the memory state (which also checks it
	 * answers): of the fullest master, in a Cluster (the first to refuse appends).
	 */
	async ping(timeoutMs = 2000): Promise<StoreMemory> {
		const redis = await this.connected(timeoutMs);
		const states = await Promise.all(masters(redis).map(async master => parseMemory(await master.info("memory"))));
		return states.reduce((fullest, state) => (fillRatio(state) > fillRatio(fullest) ? state : fullest));
	}

	async close(): Promise<void> {
		await closeRedis(this.redis);
	}

	/**
	 * The connection once it is ready (waiting up to `timeoutMs`, e.g. while it reconnects or fails over):
	 * a command issued on it is written at once (no offline queue). Otherwise StoreNotReached: the command
	 * is never sent.
	 */
	private async connected(timeoutMs = CONNECT_WAIT_MS): Promise<RedisConnection> {
		if (!(await whenReady(this.redis, timeoutMs)))
			throw new StoreNotReached(`Redis not connected (status: ${this.redis.status})`);
		return this.redis;
	}

	private keys(channel: string): { head: string; log: string; idem: string; interest: string } {
		const base = `${this.options.keyPrefix}{${channel}}`;
		return { head: `${base}:head`, log: `${base}:log`, idem: `${base}:idem:`, interest: `${base}:interest` };
	}
}

interface PendingAppend {
	draft: MessageDraft;
	/** The publishing node's listener id ("" unknown): its own mark does not make the channel listened. */
	publisher: string;
	resolve(result: AppendResult): void;
	reject(err: unknown): void;
}

/**
 * Answers an append with its part of the script's reply: 1 and the new message, or 0 and a repeat's
 * original, then whether the channel had an interest mark; or the error reply that refused it.
 */
function settle(append: PendingAppend, reply: unknown): void {
	if (reply instanceof Error) {
		append.reject(reply);
		return;
	}
	if (!Array.isArray(reply) || typeof reply[1] !== "string") {
		append.reject(new Error("unexpected reply of the append script"));
		return;
	}
	try {
		append.resolve({
			message: JSON.parse(reply[1]) as ChatMessage,
			created: reply[0] === 1,
			json: reply[1],
			listened: reply[2] === 1,
		});
	} catch (err) {
		append.reject(err);
	}
}

/** How full a server is; one without maxmemory counts as empty. */
function fillRatio(memory: StoreMemory): number {
	return memory.maxBytes > 0 ? memory.usedBytes / memory.maxBytes : 0;
}

/** `used_memory` and `maxmemory` from `INFO memory`. */
function parseMemory(info: string): StoreMemory {
	const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1] ?? 0);
	return { usedBytes: field("used_memory"), maxBytes: field("maxmemory") };
}
