/**
 * While Redis is away, the history store's connection tries again at least every 500 ms (not every 1–2 s,
 * as ioredis's growing delays would by then), so that once Redis is back (a Sentinel promoted a replica,
 * a server restarted) publishes are accepted again within about half a second: the multi-host test's
 * Redis fault has 5 s, of which Sentinel's promotion takes 2–2.5 s.
 */
import { randomUUID } from "node:crypto";
import { RedisHistory } from "../../src/redis-history";
import { CONTRACT_OPTIONS, draft } from "../support/history-store-contract";
import { waitFor } from "../support/node-process";
import { type OwnRedis, startRedisServer } from "../support/redis-server";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";

let redis: OwnRedis;
let proxy: TcpProxy;

beforeAll(async () => {
	redis = await startRedisServer();
	proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(redis.url).port) });
});
afterAll(async () => {
	await proxy.stop();
	await redis.stop();
});

test("Redis away for 6 s: the connection tries again at least every 500 ms, and publishes are accepted soon after it is back", async () => {
	const store = new RedisHistory(`redis://127.0.0.1:${proxy.port}`, {
		...CONTRACT_OPTIONS,
		keyPrefix: `chatcast-test-${randomUUID()}:`,
	});
	const channel = randomUUID();
	const publishes = async (): Promise<boolean> => Boolean(await store.append(draft(channel, "hello")));
	try {
		await waitFor(publishes, 10_000, "a first publish");
		proxy.refuse(true);
		const awayAt = Date.now();
		await new Promise(resolve => setTimeout(resolve, 6000));
		const tries = proxy.acceptedAt.filter(at => at >= awayAt);
		const gaps = tries.slice(1).map((at, i) => at - tries[i]);
		proxy.refuse(false);
		const backAt = Date.now();
		await waitFor(publishes, 10_000, "a publish once Redis is back");
		console.log(
			`tries while away: ${tries.length}, gaps ${gaps.join(", ")} ms; publishing again after ${Date.now() - backAt} ms`,
		);
		// 500 ms and what a loaded machine adds; ioredis's default steps would be 1200–1400 ms apart by now.
		expect(Math.max(...gaps.slice(-5))).toBeLessThan(1000);
	} finally {
		await store.close();
	}
}, 30_000);
