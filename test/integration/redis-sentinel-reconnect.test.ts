/**
 * A Sentinel connection comes back after a failover it noticed in the middle of its own reconnect: the
 * master is killed, the client asks a Sentinel where the master is now, and the Sentinels announce the new
 * master (+switch-master) before that answer comes (a Sentinel slow to answer a new connection, here held
 * by a proxy of the test's own). ioredis's own failover detector then closes the connector mid-connect and
 * the connection ends for good (status `end`: every publish 503 STORE_UNAVAILABLE), which the multi-host
 * test saw after its Redis fault in 2 of 11 runs.
 */
import { randomUUID } from "node:crypto";
import type { RedisTarget } from "../../src/redis-connection";
import { RedisHistory } from "../../src/redis-history";
import { CONTRACT_OPTIONS, draft } from "../support/history-store-contract";
import { waitFor } from "../support/node-process";
import { type SentinelTopology, startSentinelGroup } from "../support/redis-topology";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";

let topology: SentinelTopology;
let proxies: TcpProxy[];
const prefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;

beforeAll(async () => {
	topology = await startSentinelGroup({ replicas: 2, sentinels: 3 });
	proxies = await Promise.all(topology.sentinels.map(sentinel => startTcpProxy(sentinel)));
}, 60_000);
afterAll(async () => {
	await Promise.all(proxies.map(proxy => proxy.stop()));
	await topology.stop();
});

test("the Sentinels announce the new master while the connection asks them where it is: it connects to it, publishes succeed", async () => {
	const target: RedisTarget = { kind: "sentinel", sentinels: proxies, name: topology.name, tls: false };
	const store = new RedisHistory(target, { ...CONTRACT_OPTIONS, keyPrefix: prefix });
	const channel = randomUUID();
	// Resolves true once a publish is stored; a refused one rejects, naming the connection's status.
	const publishes = async (): Promise<boolean> => Boolean(await store.append(draft(channel, "hello")));
	try {
		await failOverWhileAsked(publishes);
	} finally {
		for (const proxy of proxies) proxy.release();
		await store.close();
	}
}, 60_000);

/** Kills the master while the Sentinels hold every new connection, lets them answer once a replica is promoted. */
async function failOverWhileAsked(publishes: () => Promise<boolean>): Promise<void> {
	await waitFor(publishes, 10_000, "a first publish");
	// Whatever watches the Sentinels for +switch-master is subscribed by now.
	await new Promise(resolve => setTimeout(resolve, 1000));
	const master = await topology.currentMaster();
	if (!master) throw new Error("no master");

	for (const proxy of proxies) proxy.hold();
	await master.kill();
	// The connection's question to a Sentinel waits in a proxy while the Sentinels promote a replica.
	await waitFor(() => proxies.some(proxy => proxy.held() > 0), 10_000, "the connection asking a Sentinel");
	await waitFor(async () => (await topology.currentMaster()) !== master, 15_000, "a new master");
	await new Promise(resolve => setTimeout(resolve, 1500));
	for (const proxy of proxies) proxy.release();

	const releasedAt = Date.now();
	await waitFor(publishes, 15_000, "a publish after the failover");
	console.log(`publishing again ${Date.now() - releasedAt} ms after the Sentinels answered`);
}

test("the master hangs (SIGSTOP, its sockets stay open): the connection moves to the master the Sentinels promote", async () => {
	const target: RedisTarget = { kind: "sentinel", sentinels: topology.sentinels, name: topology.name, tls: false };
	const store = new RedisHistory(target, { ...CONTRACT_OPTIONS, keyPrefix: prefix });
	const channel = randomUUID();
	const publishes = async (): Promise<boolean> => Boolean(await store.append(draft(channel, "hello")));
	const master = await topology.currentMaster();
	if (!master) throw new Error("no master");
	try {
		await waitFor(publishes, 10_000, "a first publish");
		await new Promise(resolve => setTimeout(resolve, 500));
		const stoppedAt = Date.now();
		master.signal("SIGSTOP");
		await waitFor(async () => (await topology.currentMaster()) !== master, 15_000, "a new master");
		await waitFor(publishes, 10_000, "a publish while the old master hangs");
		console.log(`publishing again ${Date.now() - stoppedAt} ms after the master stopped`);
	} finally {
		master.signal("SIGCONT");
		await store.close();
	}
}, 60_000);
