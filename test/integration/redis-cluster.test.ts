/**
 * Chatcast on a real Redis Cluster (3 masters, 3 replicas, of this file's own): the history-store contract,
 * heads over channels on every shard, rate limits over many slots in one turn, readiness per master and
 * WAIT on the channel's shard.
 */
import { randomUUID } from "node:crypto";
import calculateSlot from "cluster-key-slot";
import { RedisRateLimiter } from "../../src/rate-limiter";
import { connectRedis, masters, type RedisConnection, type RedisTarget, whenReady } from "../../src/redis-connection";
import { RedisHistory } from "../../src/redis-history";
import { CONTRACT_OPTIONS, draft } from "../support/history-store-contract";
import { type RedisClusterTopology, redisTopologyContract, startRedisCluster } from "../support/redis-topology";

let topology: RedisClusterTopology;
let target: RedisTarget;
const prefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;

beforeAll(async () => {
	topology = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
	target = { kind: "cluster", nodes: topology.nodes.slice(0, 1), tls: false };
}, 60_000);
afterAll(async () => {
	await topology.stop();
});

redisTopologyContract("RedisHistory on a Redis Cluster", () => target, prefix);

describe("Redis Cluster", () => {
	let admin: RedisConnection;
	const stores: RedisHistory[] = [];
	const open = (options: { minReplicas?: number; waitTimeoutMs?: number } = {}): RedisHistory => {
		const store = new RedisHistory(target, { ...CONTRACT_OPTIONS, ...options, keyPrefix: prefix });
		stores.push(store);
		return store;
	};
	beforeAll(async () => {
		admin = connectRedis(target, {});
		expect(await whenReady(admin, 5000)).toBe(true);
	});
	afterAll(async () => {
		await Promise.all(stores.map(store => store.close()));
		admin.disconnect();
	});

	test("a channel's keys share a slot; channels spread over every master; heads read them all", async () => {
		const store = open();
		const channels = Array.from({ length: 30 }, () => randomUUID());
		for (const [i, channel] of channels.entries())
			for (let n = 0; n <= i % 3; n++) await store.append(draft(channel, `m${n}`, `c${n}`));
		for (const channel of channels) {
			const base = `${prefix}{${channel}}`;
			expect(new Set([`${base}:head`, `${base}:log`, `${base}:idem:c0`].map(calculateSlot)).size).toBe(1);
		}
		const shards = await Promise.all(masters(admin).map(master => master.keys(`${prefix}*:head`)));
		expect(shards).toHaveLength(3);
		for (const keys of shards) expect(keys.length).toBeGreaterThan(0);
		const heads = await store.lastSeqs([...channels, randomUUID()]);
		expect(Object.values(heads).map(head => head.lastSeq)).toEqual([...channels.map((_, i) => (i % 3) + 1), 0]);
	});

	test("rate limits: one turn's requests over many slots are each decided, per bucket", async () => {
		const limiter = new RedisRateLimiter(admin, `${prefix}rl:`, { burst: 2, perSecond: 0.001 });
		const clients = Array.from({ length: 40 }, (_, i) => `198.51.100.${i}`);
		const slots = new Set(clients.map(client => calculateSlot(`${prefix}rl:${client}`)));
		expect(slots.size).toBeGreaterThan(30);
		const decisions = await Promise.all(clients.flatMap(client => [1, 2, 3].map(() => limiter.consume(client))));
		for (let c = 0; c < clients.length; c++) {
			expect(decisions.slice(3 * c, 3 * c + 3).map(d => d.allowed)).toEqual([true, true, false]);
		}
	});

	test("ping reports the fullest master (the first to refuse appends)", async () => {
		const nodes = masters(admin);
		const fullest = nodes[1];
		const used = Number(/^used_memory:(\d+)/m.exec(await fullest.info("memory"))?.[1]);
		await fullest.config("SET", "maxmemory", String(used * 2));
		try {
			const memory = await open().ping();
			expect(memory.maxBytes).toBe(used * 2);
		} finally {
			await fullest.config("SET", "maxmemory", "0");
		}
	});

	test("with minReplicas 1, WAIT runs on the channel's shard: appends on every shard are confirmed", async () => {
		const store = open({ minReplicas: 1, waitTimeoutMs: 2000 });
		const results = await Promise.all(Array.from({ length: 12 }, () => store.append(draft(randomUUID(), "replicated"))));
		expect(results.map(r => r.message.seq)).toEqual(results.map(() => 1));
	});
});
