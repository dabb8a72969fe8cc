/**
 * MQTT_URL with several brokers: a node whose first broker does not answer at start joins through the
 * next one with a single MQTT client (a second client, as Moleculer's own connect retry would open 5 s
 * later while mqtt.js still reconnects the first, would double every packet), and its subscribers get
 * each message once. A first broker that accepts the connection but never answers CONNECT (a hung node)
 * is given up after CONNECT_TIMEOUT_MS, not mqtt.js's 30 s.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { publishMany } from "../support/http";
import { CONNECT_TIMEOUT_MS } from "../../src/mqtt-brokers";
import { freePort, MQTT_URL, startNode, uniqueNamespace, type ChatcastNode } from "../support/node-process";
import { expectEachExactlyOnce, seqRange } from "../support/exactly-once";
import { openStream, type TestStream } from "../support/sse-client";

/** Moleculer's retry of a failed first connect comes 5 s after it; look past it. */
const MOLECULER_CONNECT_RETRY_MS = 5_000;

const namespace = uniqueNamespace("brokerlist");
let core: ChatcastNode;
let edge: ChatcastNode;
const streams: TestStream[] = [];

beforeAll(async () => {
	core = await startNode({ namespace, services: ["api", "ingest", "history"] });
	const nobody = `mqtt://127.0.0.1:${await freePort()}`;
	edge = await startNode({
		namespace,
		services: ["api", "broadcast"],
		env: { MQTT_URL: `${nobody},${MQTT_URL}`, LOG_LEVEL: "info" },
	});
}, 40_000);

afterAll(async () => {
	for (const s of streams) s.close();
	await Promise.all([edge?.stop(), core?.stop()]);
});

test("a node whose first broker is down joins through the next one, with one client", async () => {
	expect(edge.output()).toContain("ECONNREFUSED");
	const channel = randomUUID();
	const subscriber = await openStream(`${edge.baseUrl}/api/channels/${channel}/events`);
	streams.push(subscriber);
	await publishMany(core.baseUrl, channel, 5);
	await expectEachExactlyOnce([{ name: "subscriber", received: subscriber.received, expected: seqRange(1, 5) }]);

	await new Promise(r => setTimeout(r, MOLECULER_CONNECT_RETRY_MS + 1000));
	expect(edge.output().match(/MQTT client is connected/g)).toHaveLength(1);
	await publishMany(core.baseUrl, channel, 5);
	await expectEachExactlyOnce([{ name: "subscriber", received: subscriber.received, expected: seqRange(1, 10) }]);
}, 40_000);

test("a node whose first broker accepts connections but never answers CONNECT joins through the next one in seconds", async () => {
	const held = new Set<net.Socket>();
	const hung = net.createServer(socket => {
		held.add(socket);
		socket.on("error", () => socket.destroy());
	});
	await new Promise<void>(resolve => hung.listen(0, "127.0.0.1", () => resolve()));
	const port = (hung.address() as net.AddressInfo).port;
	const started = Date.now();
	// mqtt.js alone would wait 30 s for the CONNACK before trying the next broker: the start would time out.
	const late = await startNode({
		namespace: uniqueNamespace("hungbroker"),
		env: { MQTT_URL: `mqtt://127.0.0.1:${port},${MQTT_URL}` },
		timeoutMs: 20_000,
	});
	try {
		const seconds = (Date.now() - started) / 1000;
		expect(held.size).toBeGreaterThanOrEqual(2); // the transporter and the channel bus both tried it first
		expect(seconds).toBeLessThan(20);
		console.log(
			`joined through the second broker ${seconds.toFixed(1)} s after start (connect timeout ${CONNECT_TIMEOUT_MS} ms)`,
		);
	} finally {
		await late.stop();
		for (const socket of held) socket.destroy();
		await new Promise(resolve => hung.close(resolve));
	}
}, 40_000);
