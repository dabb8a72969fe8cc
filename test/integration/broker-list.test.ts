/**
 * MQTT_URL with several brokers: a node whose first broker does not answer at start joins through the
 * next one with a single MQTT client (a second client, as Moleculer's own connect retry would open 5 s
 * later while mqtt.js still reconnects the first, would double every packet), and its subscribers get
 * each message once.
 */
import { randomUUID } from "node:crypto";
import { publishMany } from "../support/http";
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
