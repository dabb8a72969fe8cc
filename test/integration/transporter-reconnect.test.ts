/**
 * An edge whose MQTT connection drops misses the packets sent meanwhile (QoS 0). When it reconnects it
 * re-reads every channel it serves from history, so its subscribers still get them — here with no later
 * message to reveal the gap and the periodic heads check turned far out, so only the reconnect can.
 * Each subscriber, live or resumed with Last-Event-ID, gets every seq exactly once; and afterwards the
 * edge is subscribed to the channel's topic again (src/channel-bus.ts), so new messages arrive live.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { Errors, ServiceBroker } from "moleculer";
import { mqttTransporter } from "../../moleculer.config";
import { post, publishMany } from "../support/http";
import { MQTT_URL, startNode, uniqueNamespace, waitFor, type ChatcastNode } from "../support/node-process";
import { expectEachExactlyOnce, seqRange } from "../support/exactly-once";
import { openStream, type TestStream } from "../support/sse-client";

/**
 * A TCP proxy to the MQTT broker that can cut every connection and refuse new ones for a while, and stall
 * (hold what the broker sends, e.g. an answer, until the cut).
 */
class CuttableProxy {
	private readonly sockets = new Set<net.Socket>();
	private readonly upstreams = new Map<net.Socket, net.Socket>();
	private down = false;
	private readonly server = net.createServer(client => {
		if (this.down) return void client.destroy();
		const target = new URL(MQTT_URL);
		const upstream = net.connect(Number(target.port || 1883), target.hostname);
		for (const socket of [client, upstream]) {
			this.sockets.add(socket);
			socket.on("close", () => this.sockets.delete(socket));
			socket.on("error", () => socket.destroy());
		}
		this.upstreams.set(upstream, client);
		upstream.on("close", () => this.upstreams.delete(upstream));
		client.pipe(upstream).pipe(client);
	});

	listen(): Promise<number> {
		return new Promise(resolve =>
			this.server.listen(0, "127.0.0.1", () => resolve((this.server.address() as net.AddressInfo).port)),
		);
	}

	stall(): void {
		for (const [upstream, client] of this.upstreams) {
			upstream.unpipe(client);
			upstream.pause();
		}
	}

	cut(): void {
		this.down = true;
		for (const socket of this.sockets) socket.destroy();
	}

	restore(): void {
		this.down = false;
	}

	close(): Promise<void> {
		this.cut();
		return new Promise(resolve => this.server.close(() => resolve()));
	}
}

const namespace = uniqueNamespace("reconnect");
const proxy = new CuttableProxy();
let core: ChatcastNode;
let edge: ChatcastNode;
const streams: TestStream[] = [];

beforeAll(async () => {
	const proxyPort = await proxy.listen();
	core = await startNode({ namespace, services: ["api", "ingest", "history"] });
	edge = await startNode({
		namespace,
		services: ["api", "broadcast"],
		env: { MQTT_URL: `mqtt://127.0.0.1:${proxyPort}`, SSE_RESYNC_MS: "600000", LOG_LEVEL: "info" },
	});
}, 40_000);

afterAll(async () => {
	for (const s of streams) s.close();
	await Promise.all([edge?.stop(), core?.stop()]);
	await proxy.close();
});

test("messages published while an edge's transporter was down reach its subscribers after the reconnect", async () => {
	const channel = randomUUID();
	const url = `${edge.baseUrl}/api/channels/${channel}/events`;
	const live = await openStream(url);
	streams.push(live);
	await publishMany(core.baseUrl, channel, 2);
	await live.waitForMessages(2);
	// A second subscriber that resumed after seq 1: it gets 2 from history, then the same live feed.
	const resumed = await openStream(url, { lastEventId: 1 });
	streams.push(resumed);
	await resumed.waitForMessages(1);

	proxy.cut();
	await waitFor(() => edge.output().includes("MQTT client is disconnected"), 5000, "the edge to notice");
	await publishMany(core.baseUrl, channel, 3, "while-away");
	await new Promise(r => setTimeout(r, 300));
	expect(live.received).toEqual([1, 2]);

	proxy.restore();
	await expectEachExactlyOnce(
		[
			{ name: "live subscriber", received: live.received, expected: seqRange(1, 5) },
			{ name: "subscriber resumed after seq 1", received: resumed.received, expected: seqRange(2, 5) },
		],
		{ timeoutMs: 15_000 },
	);
	expect(live.messages.slice(2).map(m => m.text)).toEqual(["while-away1", "while-away2", "while-away3"]);

	// Back live: the edge subscribed to the channel's topic again (its broker session began anew), so
	// what is published now arrives as it is published, with no history read to bring it.
	await publishMany(core.baseUrl, channel, 2, "after");
	await expectEachExactlyOnce(
		[
			{ name: "live subscriber", received: live.received, expected: seqRange(1, 7) },
			{ name: "subscriber resumed after seq 1", received: resumed.received, expected: seqRange(2, 7) },
		],
		{ timeoutMs: 5000 },
	);
}, 40_000);

test("a publish through the edge whose connection drops while it waits for the answer is answered at once (outcome unknown), not after the request timeout", async () => {
	const channel = randomUUID();
	const messages = `${edge.baseUrl}/api/channels/${channel}/messages`;
	// Connected again after the test above, and the core known: a publish through the edge is answered.
	await waitFor(async () => (await post(messages, { text: "warm-up" })).status === 201, 15_000, "the edge to publish");

	proxy.stall(); // the core stores the next message; its answer stays in the proxy
	const sentAt = Date.now();
	const answer = post(messages, { text: "in flight", clientMsgId: "in-flight-1" });
	await new Promise(r => setTimeout(r, 500));
	proxy.cut();
	const refused = await answer;
	const seconds = (Date.now() - sentAt) / 1000;
	expect(refused.status).toBe(503);
	expect(refused.body).toMatchObject({ type: "OUTCOME_UNKNOWN" });
	expect(seconds).toBeLessThan(2.5); // the request timeout is 5 s

	proxy.restore();
	// It was stored: the client's retry with the same clientMsgId gets the original.
	const retried = await waitFor(
		async () => {
			const again = await post(messages, { text: "in flight", clientMsgId: "in-flight-1" });
			return again.status < 500 && again;
		},
		15_000,
		"the edge to reconnect",
	);
	expect(retried.status).toBe(200);
	expect(retried.body.seq).toBe(2);
}, 40_000);

test("a packet sent while the transporter closes its MQTT client fails as a retryable error; the heartbeat timer does not throw", async () => {
	const broker = new ServiceBroker({
		namespace: uniqueNamespace("closing"),
		nodeID: `closing-${randomUUID().slice(0, 8)}`,
		logger: false,
		transporter: mqttTransporter({ urls: [MQTT_URL], secrets: [randomUUID()] }, "/"),
	});
	await broker.start();
	const { transit, registry } = broker;
	const localNode = registry.nodes.localNode;
	if (!transit || !localNode) throw new Error("a broker with a transporter has a transit and a local node");
	const closing = transit.tx.disconnect(); // the client is dropped at once; its "close" comes later
	expect(transit.tx.connected).toBe(true);
	// Moleculer's heartbeat timer: `publish(…).catch(…)`. A send that returned nothing threw here, in a timer.
	await expect(transit.sendHeartbeat(localNode)).resolves.toBeUndefined();
	await expect(transit.tx.send(`${transit.tx.prefix}/EVENT`, Buffer.from("{}"), {})).rejects.toBeInstanceOf(
		Errors.BrokerDisconnectedError,
	);
	await closing;
	await broker.stop();
});
