/**
 * A reconnect storm on a real edge: 200 streams resume the same channel 100 messages behind at once,
 * while messages keep coming. Every stream gets each message exactly once, and the edge reads the range
 * from history once, not once per stream: counted in Redis (the test's own redis-server: script
 * calls, a history page read being one) and by the edge's own metric.
 */
import { randomUUID } from "node:crypto";
import { post, publishMany } from "../support/http";
import { expectEachExactlyOnce, seqRange } from "../support/exactly-once";
import { type ChatcastNode, freePort, startNode, uniqueNamespace } from "../support/node-process";
import { type OwnRedis, startRedisServer } from "../support/redis-server";
import { openStream, type TestStream } from "../support/sse-client";

const STREAMS = 200;
let redis: OwnRedis;
let core: ChatcastNode;
let edge: ChatcastNode;
let metricsPort: number;

beforeAll(async () => {
	redis = await startRedisServer();
	metricsPort = await freePort();
	const namespace = uniqueNamespace("storm");
	const env = { REDIS_URL: redis.url, STREAMS_PER_CLIENT: "1000" };
	[core, edge] = await Promise.all([
		startNode({ namespace, services: ["api", "ingest", "history"], env }),
		startNode({ namespace, services: ["api", "broadcast"], env: { ...env, METRICS_PORT: String(metricsPort) } }),
	]);
}, 30_000);
afterAll(async () => {
	await Promise.all([core?.stop(), edge?.stop()]);
	await redis?.stop();
});

/** Script calls: a history read is one (EVALSHA, or EVAL the first time, once the script is loaded). */
async function scriptCalls(): Promise<number> {
	const stats = await redis.client.info("commandstats");
	return [/cmdstat_evalsha:calls=(\d+)/, /cmdstat_eval:calls=(\d+)/].reduce(
		(sum, re) => sum + Number(re.exec(stats)?.[1] ?? 0),
		0,
	);
}

async function metric(name: string): Promise<number> {
	const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
	const line = text.split("\n").find(l => l.startsWith(`${name}{`));
	return Number(line?.split(" ").pop());
}

test("200 resumes of one range at once: each stream gets every message exactly once, history is read once", async () => {
	const channel = randomUUID();
	await publishMany(core.baseUrl, channel, 150);
	const before = { evalsha: await scriptCalls(), reads: await metric("chatcast_replay_history_reads_total") };
	const opening = Array.from({ length: STREAMS }, () =>
		openStream(`${edge.baseUrl}/api/channels/${channel}/events`, { lastEventId: 50 }),
	);
	// Live while the storm opens: stored after (some of) the replays were read.
	const live = await post(`${core.baseUrl}/api/channels/${channel}/messages`, { text: "during" });
	expect(live.status).toBe(201);
	const streams: TestStream[] = await Promise.all(opening);
	await post(`${core.baseUrl}/api/channels/${channel}/messages`, { text: "after" });
	try {
		for (const stream of streams) expect(stream.status).toBe(200);
		await expectEachExactlyOnce(
			streams.map((stream, i) => ({ name: `stream ${i}`, received: stream.received, expected: seqRange(51, 152) })),
			{ settleMs: 300 },
		);
		// The two publishes are script calls too; whatever else is a history read for the streams.
		const reads = (await scriptCalls()) - before.evalsha - 2;
		const counted = (await metric("chatcast_replay_history_reads_total")) - before.reads;
		console.log(JSON.stringify({ streams: STREAMS, redisReads: reads, metricReads: counted }));
		expect(reads).toBeLessThanOrEqual(3);
		expect(counted).toBeLessThanOrEqual(3);
		expect(await metric("chatcast_replay_shared_total")).toBeGreaterThanOrEqual(STREAMS - 3);
	} finally {
		for (const stream of streams) stream.close();
	}
}, 60_000);
