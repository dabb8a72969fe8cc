/**
 * A flood of channels against a small Redis (a redis-server of the test's own: maxmemory 3 MB above what
 * it uses at start, noeviction). With the edge's rate limits on, the flooding client is throttled long
 * before Redis fills and another client is unaffected; with them off, the flood fills Redis and publishes
 * are refused (503 STORE_FULL) while everybody's stored history stays complete and readable. Every key the
 * flood left has a lifetime.
 */
import { randomUUID } from "node:crypto";
import type { ChatMessage } from "../../src/message";
import { type ChatcastNode, startNode, uniqueNamespace } from "../support/node-process";
import { request as raw } from "../support/raw-http";
import { type OwnRedis, startRedisServer } from "../support/redis-server";

/** Two clients told apart by their source address (the loopback has all of 127/8). */
const FLOODER = "127.0.0.2";
const CLIENT_B = "127.0.0.3";
/** The largest text a publish may carry (MAX_MESSAGE_BYTES' default). */
const MAX_TEXT = "x".repeat(4096);
const HEADROOM_BYTES = 3 * 1024 * 1024;

interface Answer {
	status: number;
	/** A message, a history page, `/api/ready`'s answer or an error body. */
	body: {
		type?: string;
		status?: string;
		checks?: Record<string, string>;
		messages?: ChatMessage[];
	} & Partial<ChatMessage>;
}

/** One HTTP request from the given source address (test/support/raw-http.ts), the body sent as JSON. */
async function request(from: string, method: "GET" | "POST", url: string, body?: unknown): Promise<Answer> {
	const json = body === undefined ? {} : { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
	const answer = await raw(url, { method, from, ...json });
	return { status: answer.status, body: answer.json };
}

const publish = (node: ChatcastNode, from: string, channel: string, text: string): Promise<Answer> =>
	request(from, "POST", `${node.baseUrl}/api/channels/${channel}/messages`, { text, author: from });

async function usedMemory(redis: OwnRedis): Promise<number> {
	return Number(/^used_memory:(\d+)/m.exec(await redis.client.info("memory"))?.[1]);
}

const namespace = uniqueNamespace("flood");
const channelB = randomUUID();
/** What B was told is stored, in order. */
const storedForB: string[] = [];
let redis: OwnRedis;
let maxmemory: number;
let node: ChatcastNode | undefined;

beforeAll(async () => {
	redis = await startRedisServer(["--maxmemory-policy", "noeviction"]);
	maxmemory = (await usedMemory(redis)) + HEADROOM_BYTES;
	await redis.client.config("SET", "maxmemory", String(maxmemory));
}, 20_000);

afterAll(async () => {
	await node?.stop();
	await redis?.stop();
});

async function publishForB(text: string): Promise<Answer> {
	const answer = await publish(node as ChatcastNode, CLIENT_B, channelB, text);
	if (answer.status === 201) storedForB.push(text);
	return answer;
}

async function historyOfB(): Promise<ChatMessage[]> {
	const answer = await request(CLIENT_B, "GET", `${(node as ChatcastNode).baseUrl}/api/channels/${channelB}/messages?limit=100`);
	expect(answer.status).toBe(200);
	return answer.body.messages ?? [];
}

test("with rate limits on, a client flooding new channels is throttled long before Redis fills; another client is not", async () => {
	node = await startNode({ namespace, env: { REDIS_URL: redis.url, RATE_LIMITS: "on" } });
	for (let i = 1; i <= 5; i++) expect((await publishForB(`b${i}`)).status).toBe(201);
	const before = await usedMemory(redis);

	const started = Date.now();
	const statuses: number[] = [];
	for (let i = 0; i < 80; i++) {
		const answer = await publish(node, FLOODER, randomUUID(), MAX_TEXT);
		statuses.push(answer.status);
		if (answer.status !== 201) expect(answer.body.type).toBe("RATE_LIMITED");
	}
	const seconds = (Date.now() - started) / 1000;
	const accepted = statuses.filter(s => s === 201).length;
	// The default bucket: 30 at once, then 3 per second.
	expect(accepted).toBeGreaterThanOrEqual(30);
	expect(accepted).toBeLessThanOrEqual(30 + Math.ceil(seconds * 3) + 1);
	expect(statuses.filter(s => s === 429).length).toBe(80 - accepted);
	// What got through is a small part of the headroom.
	expect((await usedMemory(redis)) - before).toBeLessThan(HEADROOM_BYTES / 4);

	expect((await publishForB("b6")).status).toBe(201);
	expect((await historyOfB()).map(m => m.text)).toEqual(storedForB);
	const ready = await request(CLIENT_B, "GET", `${node.baseUrl}/api/ready`);
	expect(ready.status).toBe(200);
	expect(ready.body.checks).toMatchObject({ memory: expect.stringMatching(/^ok \(\d+% of maxmemory\)$/) });
}, 60_000);

test("with rate limits off, the flood fills Redis: publishes are refused with 503 STORE_FULL, stored history stays complete", async () => {
	await node?.stop();
	node = await startNode({ namespace, env: { REDIS_URL: redis.url } });
	const answers: Answer[] = [];
	let full = false;
	// Four clients at once, until Redis refuses (a bound, so a store that never refuses fails the test).
	await Promise.all(
		Array.from({ length: 4 }, async () => {
			for (let i = 0; i < 500 && !full; i++) {
				const answer = await publish(node as ChatcastNode, FLOODER, randomUUID(), MAX_TEXT);
				answers.push(answer);
				if (answer.status !== 201) full = true;
			}
		}),
	);
	expect(full).toBe(true);
	// More of it, now that Redis is full, B's channel too: refused, never a 500. (Redis frees a little now and
	// then, e.g. client buffers, so one may still fit: B's list keeps what B was told is stored.)
	const after: Answer[] = [];
	for (let i = 0; i < 10; i++) after.push(await publish(node, FLOODER, randomUUID(), MAX_TEXT));
	after.push(await publishForB(MAX_TEXT));
	const refusals = [...answers, ...after].filter(a => a.status !== 201);
	expect(refusals.map(a => [a.status, a.body.type])).toEqual(refusals.map(() => [503, "STORE_FULL"]));
	expect(after.filter(a => a.status === 503).length).toBeGreaterThanOrEqual(8);

	// Reads still work, and B's history is all there.
	const history = await historyOfB();
	expect(history.map(m => m.text)).toEqual(storedForB);
	expect(history.map(m => m.seq)).toEqual(storedForB.map((_, i) => i + 1));

	const ready = await request(CLIENT_B, "GET", `${node.baseUrl}/api/ready`);
	// Reported, but the node stays in the load balancer: streams and reads still work.
	expect(ready.status).toBe(200);
	expect(ready.body.status).toBe("degraded");
	const checks = ready.body.checks ?? {};
	expect(checks).toMatchObject({
		history: "ok (redis)",
		memory: expect.stringMatching(/^under pressure \(\d+% of maxmemory\)$/),
	});
	expect(JSON.stringify(checks)).not.toContain(node.nodeID);
}, 90_000);

test("every key the flood left has a lifetime", async () => {
	const keys: string[] = [];
	let cursor = "0";
	do {
		const [next, found] = await redis.client.scan(cursor, "MATCH", `${namespace}:*`, "COUNT", 1000);
		cursor = next;
		keys.push(...found);
	} while (cursor !== "0");
	expect(keys.length).toBeGreaterThan(100);
	const lifetimes = await Promise.all(keys.map(key => redis.client.pttl(key)));
	const immortal = keys.filter((_, i) => lifetimes[i] <= 0);
	expect(immortal).toEqual([]);
});
