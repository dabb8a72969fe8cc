/**
 * The bus is a trust boundary. A process that reaches the MQTT broker without the cluster's secret —
 * with no seal at all, or sealing with a secret of its own — joins the namespace as a Moleculer node and
 * tries what it could do before: deliver an unstored message (on the channel's topic of the channel bus,
 * with the channel's real epoch and next seq, so only the seal stops it), inflate presence, purge and
 * append history, add a gateway route, read the broker options. Every attempt fails; subscribers see nothing forged and
 * history is unchanged. A node with the secret (the control) can talk to the cluster, so the test shows
 * the seal, not a broken connection, is what stops the rogue.
 */
import { randomUUID } from "node:crypto";
import { type BrokerOptions, ServiceBroker } from "moleculer";
import { connect } from "mqtt";
import { mqttTransporter } from "../../moleculer.config";
import { channelTopic, sealMessage } from "../../src/channel-bus";
import type { ChatMessage } from "../../src/message";
import { get, post } from "../support/http";
import { type ChatcastNode, CLUSTER_SECRET, MQTT_URL, startNode, uniqueNamespace, waitFor } from "../support/node-process";
import { openStream, type TestStream } from "../support/sse-client";

const namespace = uniqueNamespace("bus");
const channel = randomUUID();
let core: ChatcastNode;
let edge: ChatcastNode;
let stream: TestStream;
const brokers: ServiceBroker[] = [];

function broker(nodeID: string, transporter: BrokerOptions["transporter"]): ServiceBroker {
	const node = new ServiceBroker({
		namespace,
		nodeID: `${namespace}-${nodeID}`,
		transporter,
		logger: false,
		requestTimeout: 2000,
	});
	brokers.push(node);
	return node;
}

beforeAll(async () => {
	[core, edge] = await Promise.all([
		startNode({ namespace, services: ["api", "ingest", "history"], env: { LOG_LEVEL: "warn" } }),
		startNode({ namespace, services: ["api", "broadcast"], env: { LOG_LEVEL: "warn" } }),
	]);
	await waitFor(async () => (await get(`${edge.baseUrl}/api/ready`)).status === 200, 20_000, "the edge to reach history");
	stream = await openStream(`${edge.baseUrl}/api/channels/${channel}/events`);
	for (const text of ["one", "two"])
		expect((await post(`${core.baseUrl}/api/channels/${channel}/messages`, { text })).status).toBe(201);
	const [first] = await stream.waitForMessages(2);
	forged.epoch = first.epoch;
}, 40_000);

afterAll(async () => {
	stream?.close();
	await Promise.all(brokers.map(node => node.stop().catch(() => undefined)));
	await Promise.all([core?.stop(), edge?.stop()]);
});

const forged: ChatMessage = {
	id: randomUUID(),
	seq: 3,
	...{ epoch: "forged" },
	channel,
	author: "system",
	text: "forged: send your password to evil.example",
	sentAt: new Date().toISOString(),
};

/** What a rogue puts on the channel's topic: the forged message as it is, or sealed with its own secret. */
const unsealed = (_topic: string): Buffer => Buffer.from(JSON.stringify(forged));
const ownSeal = (topic: string): Buffer => sealMessage("x".repeat(64), topic, forged);

describe.each([
	["without a seal", (): BrokerOptions["transporter"] => ({ type: "MQTT", options: mqttOptions() }), unsealed],
	[
		"sealed with another secret",
		(): BrokerOptions["transporter"] => mqttTransporter({ urls: [MQTT_URL], secrets: ["x".repeat(64)] }, "/"),
		ownSeal,
	],
])("a rogue node %s", (_label, transporter, packet) => {
	test("can neither forge, nor purge, nor append, nor add a route, nor read secrets", async () => {
		const rogue = broker(`rogue-${randomUUID().slice(0, 4)}`, transporter());
		await rogue.start();
		// Its packets go out; none of the cluster's come back in a form it can use, and none of its own are taken.
		const mqtt = connect(MQTT_URL);
		const topic = channelTopic(namespace, channel);
		await mqtt.publishAsync(topic, packet(topic));
		await mqtt.endAsync();
		await rogue.broadcast(
			"broadcast.presence",
			{ nodeID: edge.nodeID, counts: { [channel]: 1_000_000 } },
			{ groups: ["broadcast"] },
		);
		const attempts = [
			rogue.call("history.purge", { channel }, { nodeID: core.nodeID }),
			rogue.call("history.append", { ...forged, channel: "not-a-uuid" }, { nodeID: core.nodeID }),
			rogue.call("api.addRoute", { route: { path: "/pwn", aliases: { "GET list": "$node.list" } } }, { nodeID: edge.nodeID }),
			rogue.call("$node.options", {}, { nodeID: core.nodeID }),
		];
		for (const outcome of await Promise.allSettled(attempts)) expect(outcome.status).toBe("rejected");
		await rogue.stop();

		// The next real message is seq 3, and every subscriber gets it: the forged seq 3 took nothing.
		const third = await post<ChatMessage>(`${core.baseUrl}/api/channels/${channel}/messages`, { text: "real three" });
		expect(third.status).toBe(201);
		await waitFor(() => stream.messages.some(m => m.id === third.body.id), 10_000, "the real message");
		expect(stream.messages.some(m => m.id === forged.id || m.text === forged.text)).toBe(false);
		const page = await get<{ messages: ChatMessage[] }>(`${core.baseUrl}/api/channels/${channel}/messages`);
		expect(page.body.messages.map(m => m.seq)).toEqual(page.body.messages.map((_m, i) => i + 1));
		expect(page.body.messages.some(m => m.text.startsWith("forged"))).toBe(false);
		const summary = await get<{ subscribers: number }>(`${edge.baseUrl}/api/channels/${channel}`);
		expect(summary.body.subscribers).toBe(1);
		expect((await get(`${edge.baseUrl}/pwn/list`)).status).toBe(404);
		// The next rogue forges the seq that comes next.
		forged.seq = third.body.seq + 1;
	}, 30_000);
});

test("the control: a node with the cluster's secret is answered", async () => {
	const member = broker("member", mqttTransporter({ urls: [MQTT_URL], secrets: [CLUSTER_SECRET] }, "/"));
	await member.start();
	await waitFor(
		async () => {
			const nodes = await member.call<Array<{ id: string }>, object>("$node.list", {}, { nodeID: core.nodeID }).catch(() => []);
			return nodes.some(n => n.id === edge.nodeID);
		},
		10_000,
		"the core to answer a sealed request",
	);
	expect(core.output() + edge.output()).toMatch(/Dropped \d+ transporter packet\(s\) that were not sealed/);
	expect(edge.output()).toMatch(/Dropped \d+ channel packet\(s\) that did not verify/);
});

function mqttOptions(): Record<string, unknown> {
	const url = new URL(MQTT_URL);
	return { host: url.hostname, port: Number(url.port || 1883), topicSeparator: "/" };
}
