/**
 * RedisHistory against real Redis (unique key prefix, cleaned up): the store contract, key lifetimes and
 * types, memory state, and what a failure means when Redis is away or hangs (a redis-server of the test's own).
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import Redis from "ioredis";
import { RedisHistory, type RedisHistoryOptions } from "../../src/redis-history";
import { classifyStoreError, StoreNotReached } from "../../src/store-errors";
import { CONTRACT_OPTIONS, draft, historyStoreContract, waitedMarks } from "../support/history-store-contract";
import { REDIS_URL, ROOT, waitFor } from "../support/node-process";
import { startRedisServer } from "../support/redis-server";

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
	// A restart (or expiry) loses the channel's keys; the same store goes on.
	async restart(store, channel) {
		await deleteKeys(`${prefix}{${channel}}:*`);
		return store;
	},
	marks: () => waitedMarks(new RedisHistory(REDIS_URL, { ...CONTRACT_OPTIONS, keyPrefix: prefix, interestTtlMs: 300 }), 300),
	cleanup: () => deleteKeys(`${prefix}*`),
});

describe("RedisHistory keys", () => {
	const keyPrefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;
	let redis: Redis;
	const stores: RedisHistory[] = [];
	const open = (options: Partial<RedisHistoryOptions> = {}): RedisHistory => {
		const store = new RedisHistory(REDIS_URL, { ...CONTRACT_OPTIONS, ...options, keyPrefix });
		stores.push(store);
		return store;
	};
	beforeAll(() => {
		redis = new Redis(REDIS_URL);
	});
	afterAll(async () => {
		await Promise.all(stores.map(store => store.close()));
		await redis.quit();
		await deleteKeys(`${keyPrefix}*`);
	});

	test("every key has a lifetime: head and log get the TTL on each append, the idempotency key its window", async () => {
		const store = open({ ttlSeconds: 30, idempotencySeconds: 20 });
		const channel = randomUUID();
		const { message } = await store.append(draft(channel, "x", "idem"));
		const replid = /master_replid:(\w+)/.exec(await redis.info("replication"))?.[1];
		expect(await redis.hgetall(`${keyPrefix}{${channel}}:head`)).toEqual({ seq: "1", epoch: message.epoch, rid: replid });
		for (const key of ["head", "log"]) {
			const ttl = await redis.pttl(`${keyPrefix}{${channel}}:${key}`);
			expect(ttl).toBeGreaterThan(25_000);
			expect(ttl).toBeLessThanOrEqual(30_000);
		}
		const idem = await redis.pttl(`${keyPrefix}{${channel}}:idem:idem`);
		expect(idem).toBeGreaterThan(15_000);
		expect(idem).toBeLessThanOrEqual(20_000);
		// The next append refreshes them.
		await redis.pexpire(`${keyPrefix}{${channel}}:head`, 1000);
		await store.append(draft(channel, "y"));
		expect(await redis.pttl(`${keyPrefix}{${channel}}:head`)).toBeGreaterThan(25_000);
	});

	test("an append hands back the stored text (the answer and the bus send it as is): the log's entry, the message serialized", async () => {
		const store = open();
		const channel = randomUUID();
		const first = await store.append(draft(channel, 'a "quoted" ünïcode text', "idem-json"));
		const repeat = await store.append(draft(channel, "ignored: a repeat answers the original", "idem-json"));
		const [stored] = await redis.zrange(`${keyPrefix}{${channel}}:log`, 0, -1);
		expect(first.json).toBe(stored);
		expect(first.json).toBe(JSON.stringify(first.message));
		expect(repeat).toMatchObject({ created: false, json: stored });
	});

	test("a channel is forgotten TTL after its last message: it counts again from 1 in a new epoch", async () => {
		const store = open({ ttlSeconds: 1 });
		const channel = randomUUID();
		const before = (await store.append(draft(channel, "before"))).message;
		await new Promise(resolve => setTimeout(resolve, 1200));
		expect(await store.range(channel, 0, 10)).toEqual({ epoch: "", messages: [], oldestSeq: 1, lastSeq: 0 });
		const after = (await store.append(draft(channel, "after"))).message;
		expect(after.seq).toBe(1);
		expect(after.epoch).not.toBe(before.epoch);
	});

	test.each<[string, string, (key: string) => Promise<unknown>]>([
		["the log", "log", key => redis.set(key, "not a sorted set")],
		["the head", "head", key => redis.set(key, "not a hash")],
		["an idempotency key", "idem:k", key => redis.rpush(key, "not a string")],
	])("%s of the wrong type fails the append before it takes a seq (STORE_UNAVAILABLE)", async (_name, suffix, spoil) => {
		const store = open();
		const channel = randomUUID();
		await store.append(draft(channel, "first"));
		const key = `${keyPrefix}{${channel}}:${suffix}`;
		const saved = await redis.dumpBuffer(key);
		await redis.del(key);
		await spoil(key);
		const failure = await store.append(draft(channel, "refused", "k")).catch((err: unknown) => err);
		expect(classifyStoreError(failure, "append")).toBe("STORE_UNAVAILABLE");
		await redis.del(key);
		if (saved) await redis.restore(key, 0, saved);
		expect((await store.append(draft(channel, "next"))).message.seq).toBe(2);
	});

	test("a head whose seq is not a count fails the append before it writes anything (STORE_UNAVAILABLE)", async () => {
		const store = open();
		const channel = randomUUID();
		await store.append(draft(channel, "first"));
		const head = `${keyPrefix}{${channel}}:head`;
		await redis.hset(head, "seq", "not a count");
		const failure = await store.append(draft(channel, "refused")).catch((err: unknown) => err);
		expect(classifyStoreError(failure, "append")).toBe("STORE_UNAVAILABLE");
		expect(await redis.zcard(`${keyPrefix}{${channel}}:log`)).toBe(1);
		expect(await redis.hget(head, "seq")).toBe("not a count");
	});

	test("one turn's appends (more than one script call holds) are numbered in the order asked; a refused append fails alone", async () => {
		const store = open();
		const [a, b, badLog, badHead, badSeq] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
		await redis.set(`${keyPrefix}{${badLog}}:log`, "not a sorted set");
		await redis.set(`${keyPrefix}{${badHead}}:head`, "not a hash");
		await redis.hset(`${keyPrefix}{${badSeq}}:head`, "seq", "not a count");
		// 5 × 40 appends asked in one turn, interleaved: more than one script call's worth (APPEND_BATCH).
		const channels = [a, badLog, b, badHead, badSeq];
		const asked = Array.from({ length: 40 }, (_, i) =>
			channels.map(channel => store.append(draft(channel, `m${i}`)).catch((err: unknown) => err)),
		).flat();
		const results = await Promise.all(asked);
		const of = (channel: string) => results.filter((_, i) => channels[i % channels.length] === channel);
		for (const channel of [a, b]) {
			const messages = of(channel).map(result => (result as { message: { seq: number; text: string } }).message);
			expect(messages.map(m => [m.seq, m.text])).toEqual(Array.from({ length: 40 }, (_, i) => [i + 1, `m${i}`]));
			expect((await store.range(channel, 0, 100)).lastSeq).toBe(40);
		}
		for (const channel of [badLog, badHead, badSeq])
			expect(of(channel).map(err => classifyStoreError(err, "append"))).toEqual(Array(40).fill("STORE_UNAVAILABLE"));
		expect(await redis.exists(`${keyPrefix}{${badLog}}:head`)).toBe(0);
		expect(await redis.hgetall(`${keyPrefix}{${badSeq}}:head`)).toEqual({ seq: "not a count" });
		for (const channel of [badHead, badSeq]) expect(await redis.exists(`${keyPrefix}{${channel}}:log`)).toBe(0);
	});

	// What marks mean is in the store contract; here, how Redis keeps them.
	test("an interest mark sits beside the head with its TTL; a listener that stops refreshing is dropped from the hash", async () => {
		const [marked, channel] = [randomUUID(), randomUUID()];
		await open().markInterest([marked]);
		// Same hash tag: one slot, so the append script may read it.
		const ttl = await redis.pttl(`${keyPrefix}{${marked}}:interest`);
		expect(ttl).toBeGreaterThan(55_000);
		expect(ttl).toBeLessThanOrEqual(60_000);
		const store = open({ interestTtlMs: 300 });
		await store.markInterest([channel]);
		await store.markInterest([channel], "node-a");
		// The anonymous mark stops refreshing; node-a's refreshes drop its field once it is past its expiry.
		for (let i = 0; i < 4; i++) {
			await new Promise(r => setTimeout(r, 150));
			await store.markInterest([channel], "node-a");
		}
		expect(await redis.hkeys(`${keyPrefix}{${channel}}:interest`)).toEqual(["node-a"]);
	});

	test("ping reports Redis's memory: used_memory and maxmemory", async () => {
		const memory = await open().ping();
		expect(memory.usedBytes).toBeGreaterThan(0);
		const [, maxmemory] = (await redis.config("GET", "maxmemory")) as string[];
		expect(memory.maxBytes).toBe(Number(maxmemory));
	});
});

describe("RedisHistory without Redis", () => {
	test("fails fast when Redis is unreachable: nothing was sent, so nothing can be stored", async () => {
		const store = new RedisHistory("redis://127.0.0.1:1", { ...CONTRACT_OPTIONS, keyPrefix: "unused:" });
		const started = Date.now();
		const failure = await store.append(draft(randomUUID(), "x")).catch((err: unknown) => err);
		expect(failure).toBeInstanceOf(StoreNotReached);
		expect(classifyStoreError(failure, "append")).toBe("STORE_UNAVAILABLE");
		await expect(store.ping(300)).rejects.toThrow(/not connected/);
		expect(Date.now() - started).toBeLessThan(3000);
		await store.close();
	});

	test("close() lets the process exit at once when Redis does not answer (no 2 s disconnect wait)", async () => {
		// A peer that accepts, never answers, and never closes its side: a hung Redis.
		const sockets: net.Socket[] = [];
		const server = net.createServer({ allowHalfOpen: true }, socket => sockets.push(socket));
		await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
		const { port } = server.address() as net.AddressInfo;
		// A process of its own (the built module): what is measured is how long it stays alive after close().
		const script = `
			const { RedisHistory } = require("./dist/src/redis-history.js");
			const store = new RedisHistory("redis://127.0.0.1:${port}", { limit: 5, ttlSeconds: 60, idempotencySeconds: 60, keyPrefix: "unused:" });
			setTimeout(() => { console.log("closing"); void store.close(); }, 500);`;
		const child = spawn(process.execPath, ["-e", script], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
		try {
			const closing = await new Promise<number>(resolve => child.stdout.once("data", () => resolve(Date.now())));
			expect(sockets.length).toBe(1);
			await new Promise(resolve => child.once("exit", resolve));
			expect(Date.now() - closing).toBeLessThan(1000);
		} finally {
			child.kill("SIGKILL");
			for (const socket of sockets) socket.destroy();
			await new Promise(resolve => server.close(resolve));
		}
	});

	test("an append that got no answer may still be stored (OUTCOME_UNKNOWN); a read that got none is STORE_UNAVAILABLE", async () => {
		const own = await startRedisServer();
		const store = new RedisHistory(own.url, { ...CONTRACT_OPTIONS, keyPrefix: "hung:" });
		try {
			await store.ping();
			const channel = randomUUID();
			own.signal("SIGSTOP");
			const [append, read] = await Promise.all([
				store.append(draft(channel, "in flight")).catch((err: unknown) => err),
				store.range(channel, 0, 10).catch((err: unknown) => err),
			]);
			expect(classifyStoreError(append, "append")).toBe("OUTCOME_UNKNOWN");
			expect(classifyStoreError(read, "other")).toBe("STORE_UNAVAILABLE");
			// The command was sent: the paused Redis runs it when it resumes.
			own.signal("SIGCONT");
			const page = await waitFor(async () => {
				const found = await store.range(channel, 0, 10).catch(() => undefined);
				return found && found.messages.length > 0 ? found : undefined;
			});
			expect(page.messages.map(m => m.text)).toEqual(["in flight"]);
		} finally {
			await store.close();
			await own.stop();
		}
	});
});
