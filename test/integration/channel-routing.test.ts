/**
 * Interest-based routing (src/channel-bus.ts) across real processes: a core, an all-in-one node and
 * three edges on the real Mosquitto. A channel no edge listens to gets no packet on the broker at all (no
 * interest mark in Redis), nor does one whose only listener is the publishing node itself; its first
 * subscriber, joining while publishes run, gets every message once. An edge receives a
 * channel's messages only while it has subscribers for it; subscribers
 * on different edges get every message exactly once while others come and go; a message published
 * right as a channel's first subscriber joins an edge is not lost, with no later message and no heads
 * check to repair it (SSE_RESYNC_MS far out): the edge reads history only after the broker's SUBACK.
 * (That edge's channel-bus connection goes through a proxy that holds what it sends for 150 ms, so a
 * read made before the subscription took effect would miss the message.) A channel whose interest mark
 * is gone (a Redis failover that lost it) gets no packet, yet its subscribers get every message: from
 * the heads check on an edge with a short SSE_RESYNC_MS, or as a gap repaired from history once a
 * message is delivered live again (another node's join wrote the mark back).
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import Redis from "ioredis";
import { ServiceBroker } from "moleculer";
import { connect, type MqttClient } from "mqtt";
import { mqttTransporter } from "../../moleculer.config";
import type { ChannelBusStats } from "../../src/channel-bus";
import { expectEachExactlyOnce, seqRange } from "../support/exactly-once";
import { get, post, publishMany } from "../support/http";
import {
	type ChatcastNode,
	CLUSTER_SECRET,
	MQTT_URL,
	REDIS_URL,
	startNode,
	uniqueNamespace,
	waitFor,
} from "../support/node-process";
import { openStream, type TestStream } from "../support/sse-client";

/**
 * A TCP proxy to the MQTT broker that delays what the channel bus's connection sends (its CONNECT names
 * a `-bus-` client id); the transporter's connection passes unchanged.
 */
class SlowBusProxy {
	private readonly sockets = new Set<net.Socket>();
	private readonly server = net.createServer(client => {
		const target = new URL(MQTT_URL);
		const upstream = net.connect(Number(target.port || 1883), target.hostname);
		for (const socket of [client, upstream]) {
			this.sockets.add(socket);
			socket.on("close", () => this.sockets.delete(socket));
			socket.on("error", () => socket.destroy());
		}
		let slow: boolean | undefined;
		client.on("data", (chunk: Buffer) => {
			slow ??= chunk.includes("-bus-");
			if (slow) setTimeout(() => upstream.write(chunk), this.delayMs);
			else upstream.write(chunk);
		});
		upstream.pipe(client);
	});

	constructor(private readonly delayMs: number) {}

	listen(): Promise<number> {
		return new Promise(resolve =>
			this.server.listen(0, "127.0.0.1", () => resolve((this.server.address() as net.AddressInfo).port)),
		);
	}

	close(): Promise<void> {
		for (const socket of this.sockets) socket.destroy();
		return new Promise(resolve => this.server.close(() => resolve()));
	}
}

const namespace = uniqueNamespace("routing");
const proxy = new SlowBusProxy(150);
let slowEdge: ChatcastNode;
let core: ChatcastNode;
/** Every service in one node: it publishes and streams. */
let allInOne: ChatcastNode;
let edges: ChatcastNode[];
/** An edge whose heads check runs every RESYNC_MS (the others' never does in a test). */
let resyncEdge: ChatcastNode;
const RESYNC_MS = 500;
const redis = new Redis(REDIS_URL);
let member: ServiceBroker;
let probe: MqttClient;
/** Packets seen on the namespace's channel topics, per channel. */
const seen = new Map<string, number>();
const streams: TestStream[] = [];

beforeAll(async () => {
	const env = { SSE_RESYNC_MS: "600000" };
	const proxyPort = await proxy.listen();
	[core, allInOne, resyncEdge, slowEdge, ...edges] = await Promise.all([
		startNode({ namespace, services: ["api", "ingest", "history"], env }),
		startNode({ namespace, services: ["api", "ingest", "history", "broadcast"], env }),
		startNode({ namespace, services: ["api", "broadcast"], env: { SSE_RESYNC_MS: String(RESYNC_MS) } }),
		startNode({
			namespace,
			services: ["api", "broadcast"],
			env: { ...env, MQTT_URL: `mqtt://127.0.0.1:${proxyPort}`, STREAM_CHANNELS_PER_CLIENT: "100" },
		}),
		...[1, 2, 3].map(() => startNode({ namespace, services: ["api", "broadcast"], env })),
	]);
	for (const edge of [allInOne, resyncEdge, slowEdge, ...edges])
		await waitFor(async () => (await get(`${edge.baseUrl}/api/ready`)).status === 200, 20_000, "edge ready");
	// A node with the secret asks the edges what their channel bus received.
	member = new ServiceBroker({
		namespace,
		nodeID: `${namespace}-member`,
		transporter: mqttTransporter({ urls: [MQTT_URL], secrets: [CLUSTER_SECRET] }, "/"),
		logger: false,
	});
	await member.start();
	probe = connect(MQTT_URL);
	probe.on("message", topic => {
		const channel = topic.split("/").pop() ?? "";
		seen.set(channel, (seen.get(channel) ?? 0) + 1);
	});
	await probe.subscribeAsync(`${namespace}/channel/#`);
}, 60_000);

afterAll(async () => {
	for (const stream of streams) stream.close();
	await probe?.endAsync();
	await member?.stop();
	await Promise.all([core, allInOne, resyncEdge, slowEdge, ...edges].map(node => node?.stop()));
	await proxy.close();
	const keys = await redis.keys(`${namespace}:*`);
	if (keys.length > 0) await redis.del(...keys);
	await redis.quit();
});

async function busStats(edge: ChatcastNode): Promise<ChannelBusStats> {
	const stats = await member.call<{ bus: ChannelBusStats }, object>("broadcast.stats", {}, { nodeID: edge.nodeID });
	return stats.bus;
}

async function stream(edge: ChatcastNode, channel: string, lastEventId?: number): Promise<TestStream> {
	const opened = await openStream(`${edge.baseUrl}/api/channels/${channel}/events`, { lastEventId });
	streams.push(opened);
	return opened;
}

/** Publishes messages `from`…`total - 1` to the core one after another, `pauseMs` apart; `published()` counts them. */
function pacedPublisher(channel: string, from: number, total: number, pauseMs: number) {
	let published = from;
	const done = (async () => {
		for (; published < total; published++) {
			expect((await post(`${core.baseUrl}/api/channels/${channel}/messages`, { text: `m${published}` })).status).toBe(201);
			await new Promise(r => setTimeout(r, pauseMs));
		}
	})();
	return { published: () => published, done };
}

test("an edge without subscribers for a channel receives no packet for it", async () => {
	const channel = randomUUID();
	const before = await Promise.all(edges.map(busStats));
	const subscriber = await stream(edges[0], channel);
	await publishMany(core.baseUrl, channel, 20);
	await subscriber.waitForMessages(20);
	await waitFor(() => seen.get(channel) === 20, 5000, "the probe to see every packet");
	const after = await Promise.all(edges.map(busStats));

	// The subscribed edge got each message once; the others got nothing, from the broker or elsewhere.
	expect(after[0].received - before[0].received).toBe(20);
	expect(after.slice(1).map((s, i) => s.received - before[i + 1].received)).toEqual([0, 0]);
	expect(subscriber.received).toEqual(seqRange(1, 20));
});

test("a channel nobody listens to gets no bus packet; its first subscriber, joining while publishes run, gets each message once", async () => {
	const channel = randomUUID();
	await publishMany(core.baseUrl, channel, 10);
	const total = 80;
	const publisher = pacedPublisher(channel, 10, total, 5);
	await waitFor(() => publisher.published() >= 30, 10_000, "publishes to run");
	// The channel's first subscriber anywhere: its edge marks the channel while the core keeps publishing.
	const subscriber = await stream(edges[2], channel, 0);
	await publisher.done;
	await expectEachExactlyOnce([{ name: "first subscriber", received: subscriber.received, expected: seqRange(1, total) }], {
		timeoutMs: 10_000,
	});
	// Nothing went out for the 10 messages before any node listened (nor for the ones before the join).
	await new Promise(r => setTimeout(r, 300));
	expect(seen.get(channel) ?? 0).toBeLessThanOrEqual(total - 30);
	expect(seen.get(channel) ?? 0).toBeGreaterThan(0);
}, 60_000);

test("a node that is a channel's only listener sends no packet for what it publishes; another node's subscriber turns them on", async () => {
	const channel = randomUUID();
	const own = await stream(allInOne, channel);
	await publishMany(allInOne.baseUrl, channel, 10);
	await own.waitForMessages(10);
	// Its streams got every message in-process; the broker saw none (it would only have echoed them back).
	await new Promise(r => setTimeout(r, 300));
	expect(seen.get(channel) ?? 0).toBe(0);
	// A subscriber elsewhere marks the channel: from then on every publish goes out, and both get each once.
	const other = await stream(edges[0], channel, 10);
	await publishMany(allInOne.baseUrl, channel, 10);
	await expectEachExactlyOnce(
		[
			{ name: "the publishing node's subscriber", received: own.received, expected: seqRange(1, 20) },
			{ name: "the other edge's subscriber", received: other.received, expected: seqRange(11, 20) },
		],
		{ timeoutMs: 10_000 },
	);
	// (A publish stored before the other edge's mark reached it through its history read instead.)
	await waitFor(() => (seen.get(channel) ?? 0) > 0, 5000, "the probe to see the packets");
	expect(seen.get(channel)).toBeLessThanOrEqual(10);
});

test("the last subscriber leaving unsubscribes the edge (after a short linger)", async () => {
	const channel = randomUUID();
	const subscriber = await stream(edges[1], channel);
	await waitFor(async () => (await busStats(edges[1])).subscribed >= 1, 5000, "the edge to subscribe");
	const subscribed = (await busStats(edges[1])).subscribed;
	subscriber.close();
	await waitFor(async () => (await busStats(edges[1])).subscribed === subscribed - 1, 10_000, "the edge to unsubscribe");
	const before = (await busStats(edges[1])).received;
	await publishMany(core.baseUrl, channel, 3);
	await waitFor(() => seen.get(channel) === 3, 5000, "the probe to see the packets");
	expect((await busStats(edges[1])).received).toBe(before);
});

test("subscribers on different edges get every message exactly once while others subscribe and unsubscribe", async () => {
	const channel = randomUUID();
	const steady = await Promise.all(edges.map(edge => stream(edge, channel)));
	const total = 120;
	// Paced (≥ 1.2 s in all) so that streams churn while it publishes, however fast a publish is.
	const publisher = pacedPublisher(channel, 0, total, 10);
	// Churn: streams come and go on every edge, each resuming from what was published when it opened;
	// on edges 2 and 3 the steady one is the only other subscriber, so their interest goes up and down too.
	const churned: Array<{ name: string; stream: TestStream; from: number }> = [];
	for (let round = 0; publisher.published() < total; round++) {
		const edge = edges[round % edges.length];
		const from = publisher.published();
		const s = await stream(edge, channel, from);
		churned.push({ name: `churn ${round} on edge ${round % edges.length} from ${from}`, stream: s, from });
		await new Promise(r => setTimeout(r, 30 + (round % 5) * 20));
		s.close();
	}
	await publisher.done;
	await expectEachExactlyOnce(
		steady.map((s, i) => ({ name: `steady on edge ${i}`, received: s.received, expected: seqRange(1, total) })),
		{
			timeoutMs: 15_000,
		},
	);
	// A churned stream got a contiguous run from where it resumed, each seq once.
	for (const { name, stream: s, from } of churned)
		expect({ name, received: s.received }).toEqual({ name, received: seqRange(from + 1, from + s.received.length) });
	expect(churned.length).toBeGreaterThan(5);
}, 60_000);

test("a message published right as a channel's first subscriber joins an edge is not lost", async () => {
	// Many channels at once, each with one message published at a different moment of the join.
	const trials = Array.from({ length: 16 }, (_, i) => ({ channel: randomUUID(), delayMs: i * 10 }));
	const opened = await Promise.all(
		trials.map(async ({ channel, delayMs }) => {
			const joining = stream(slowEdge, channel, 0);
			await new Promise(r => setTimeout(r, delayMs));
			const published = await post(`${core.baseUrl}/api/channels/${channel}/messages`, { text: "right now" });
			expect(published.status).toBe(201);
			return { name: `${channel} (published after ${delayMs} ms)`, stream: await joining };
		}),
	);
	expect(opened.map(o => o.stream.status)).toEqual(trials.map(() => 200));
	await expectEachExactlyOnce(
		opened.map(({ name, stream: s }) => ({ name, received: s.received, expected: [1] })),
		{ timeoutMs: 5000 },
	);
}, 30_000);

/** The channel's interest mark in Redis (src/redis-history.ts: `<namespace>:{<channel>}:interest`). */
const markKey = (channel: string): string => `${namespace}:{${channel}}:interest`;

/**
 * Streams `channel` on `edge`, checks one message arrives live, then deletes the channel's mark (as a
 * failover to a replica that never got it would) and publishes `lost` more: stored, but no packet.
 */
async function loseTheMark(edge: ChatcastNode, channel: string, lost: number): Promise<TestStream> {
	const subscriber = await stream(edge, channel);
	await publishMany(core.baseUrl, channel, 1, "live");
	await subscriber.waitForMessages(1);
	expect(await redis.del(markKey(channel))).toBe(1);
	const published = await publishMany(core.baseUrl, channel, lost, "unmarked");
	expect(published.map(m => m.seq)).toEqual(seqRange(2, lost + 1));
	return subscriber;
}

test("after a failover lost a channel's mark, the heads check delivers the messages that got no packet", async () => {
	const channel = randomUUID();
	const lost = 10;
	const subscriber = await loseTheMark(resyncEdge, channel, lost);
	const publishedAt = Date.now();
	await subscriber.waitForMessages(lost + 1, RESYNC_MS + 1500);
	const tookMs = Date.now() - publishedAt;
	await new Promise(r => setTimeout(r, 300));
	expect(subscriber.received).toEqual(seqRange(1, lost + 1));
	expect(tookMs).toBeLessThan(RESYNC_MS + 1500);
	// They came from history: the broker carried only the first message, and nothing wrote the mark back
	// (the edge's own refresh is INTEREST_REFRESH_MS, 20 s, away).
	expect(seen.get(channel)).toBe(1);
	expect(await redis.exists(markKey(channel))).toBe(0);
}, 20_000);

test("after a failover lost a channel's mark, another node's join makes publishes packets again and the gap is repaired", async () => {
	const channel = randomUUID();
	const lost = 10;
	// An edge with no heads check in the test's time: nothing repairs the loss on its own.
	const subscriber = await loseTheMark(edges[0], channel, lost);
	await new Promise(r => setTimeout(r, 1000));
	expect(subscriber.received).toEqual([1]);
	// Another edge's first stream of the channel writes the mark again (any node's mark serves all).
	const joiner = await stream(edges[1], channel);
	expect(await redis.exists(markKey(channel))).toBe(1);
	await publishMany(core.baseUrl, channel, 1, "marked again");
	await subscriber.waitForMessages(lost + 2, 5000);
	await joiner.waitForMessages(1, 5000);
	await new Promise(r => setTimeout(r, 300));
	// The live message's seq told the first edge what it missed: read from history, in order, once.
	expect(subscriber.received).toEqual(seqRange(1, lost + 2));
	expect(joiner.received).toEqual([lost + 2]);
	expect(seen.get(channel)).toBe(2);
}, 20_000);
