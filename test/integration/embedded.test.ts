/**
 * `npm start` on a fresh machine: no MQTT_URL, no REDIS_URL. The node starts its own MQTT broker
 * (another port when the wanted one is taken, as here by Mosquitto on 1883) and keeps history in memory.
 * Its in-memory history keeps interest marks: a channel whose only listener is the node itself gets no
 * packet on its broker (it would only come back), while one that another node or the REPL's `tail`
 * (joined to the embedded broker) listens to is published, and they get its messages live.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { expectEachExactlyOnce, seqRange } from "../support/exactly-once";
import { get, post, publishMany } from "../support/http";
import { startNode, uniqueNamespace, waitFor, type ChatcastNode } from "../support/node-process";
import { type ReplProcess, startRepl } from "../support/repl-process";
import { openStream, type TestStream } from "../support/sse-client";

const namespace = uniqueNamespace("embedded");
/** No heads check within a test: what a stream gets, it got live. */
const NO_RESYNC = { SSE_RESYNC_MS: "600000" };
let node: ChatcastNode;
/** A raw MQTT client on the embedded broker, counting the packets on the namespace's channel topics. */
let probe: mqtt.MqttClient | undefined;
const packets = new Map<string, number>();
let other: ChatcastNode | undefined;
let repl: ReplProcess | undefined;
const streams: TestStream[] = [];
const home = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-embedded-"));

beforeAll(async () => {
	node = await startNode({
		namespace,
		env: { MQTT_URL: "", REDIS_URL: "", EMBEDDED_MQTT_PORT: "1883", SSE_HEARTBEAT_MS: "200", LOG_LEVEL: "info", ...NO_RESYNC },
	});
}, 30_000);

afterAll(async () => {
	for (const stream of streams) stream.close();
	repl?.kill();
	await probe?.endAsync();
	await other?.stop();
	await node?.stop();
	fs.rmSync(home, { recursive: true, force: true });
});

/** How other nodes and the REPL join the embedded broker, as the node printed it. */
function joinEnv(): { MQTT_URL: string; CLUSTER_SECRET: string } {
	const found = /MQTT_URL=(mqtt:\/\/\S+) CLUSTER_SECRET=(\S+)/.exec(node.output());
	if (!found) throw new Error(`no MQTT_URL and CLUSTER_SECRET in:\n${node.output()}`);
	return { MQTT_URL: found[1], CLUSTER_SECRET: found[2] };
}

async function stream(on: ChatcastNode, channel: string, lastEventId?: number): Promise<TestStream> {
	const opened = await openStream(`${on.baseUrl}/api/channels/${channel}/events`, { lastEventId });
	streams.push(opened);
	return opened;
}

/** The probe, subscribed to every channel topic of the namespace once. */
async function packetProbe(): Promise<void> {
	if (probe) return;
	probe = mqtt.connect(joinEnv().MQTT_URL, { reconnectPeriod: 0 });
	probe.on("message", topic => {
		const channel = topic.split("/").pop() ?? "";
		packets.set(channel, (packets.get(channel) ?? 0) + 1);
	});
	await probe.subscribeAsync(`${namespace}/channel/#`);
}

test("says which broker it started, and that history is in memory", () => {
	expect(node.output()).toMatch(
		/started the embedded MQTT broker on 127\.0\.0\.1:(\d+) \(port 1883 was taken, so a free one was chosen\)/,
	);
	expect(node.output()).toContain("history is in memory");
});

/** The embedded broker's port, from what the node printed. */
function embeddedPort(): number {
	const found = /embedded MQTT broker on 127\.0\.0\.1:(\d+)/.exec(node.output());
	if (!found) throw new Error(`no embedded broker port in:\n${node.output()}`);
	return Number(found[1]);
}

test("the embedded broker admits only its launcher's credentials", async () => {
	const port = embeddedPort();
	const connectAs = async (options: mqtt.IClientOptions): Promise<string> => {
		const client = mqtt.connect({ host: "127.0.0.1", port, reconnectPeriod: 0, connectTimeout: 3000, ...options });
		try {
			return await new Promise<string>(resolve => {
				client.once("connect", () => resolve("connected"));
				client.once("error", err => resolve(err.message));
			});
		} finally {
			client.end(true);
		}
	};
	expect(await connectAs({})).toMatch(/Not authorized/i);
	expect(await connectAs({ username: "chatcast", password: "guess" })).toMatch(/Not authorized/i);
	const url = /MQTT_URL=(mqtt:\/\/\S+)/.exec(node.output())?.[1] ?? "";
	const parsed = new URL(url);
	expect(await connectAs({ username: parsed.username, password: decodeURIComponent(parsed.password) })).toBe("connected");
});

test("publishes reach a stream, with heartbeats in between", async () => {
	const channel = randomUUID();
	const stream = await openStream(`${node.baseUrl}/api/channels/${channel}/events`);
	await publishMany(node.baseUrl, channel, 3);
	await stream.waitForMessages(3);
	expect(stream.messages.map(m => m.seq)).toEqual([1, 2, 3]);
	await waitFor(() => stream.comments >= 2, 3000, "two heartbeats");
	stream.close();
});

test("a channel whose only listener is the node itself gets no packet on the broker; its stream gets every message", async () => {
	await packetProbe();
	const channel = randomUUID();
	const own = await stream(node, channel);
	await publishMany(node.baseUrl, channel, 30);
	await own.waitForMessages(30);
	await new Promise(r => setTimeout(r, 300));
	expect(own.received).toEqual(seqRange(1, 30));
	expect(packets.get(channel) ?? 0).toBe(0);
});

test("another node on the embedded broker marks a channel in the node's memory history: its packets flow, and its stream gets them live", async () => {
	await packetProbe();
	other = await startNode({ namespace, services: ["api", "broadcast"], env: { ...joinEnv(), REDIS_URL: "", ...NO_RESYNC } });
	await waitFor(async () => (await get(`${other?.baseUrl}/api/ready`)).status === 200, 20_000, "the other node ready");
	const channel = randomUUID();
	const own = await stream(node, channel);
	await publishMany(node.baseUrl, channel, 5);
	await own.waitForMessages(5);
	const remote = await stream(other, channel, 5);
	await publishMany(node.baseUrl, channel, 10);
	await expectEachExactlyOnce(
		[
			{ name: "the node's own stream", received: own.received, expected: seqRange(1, 15) },
			{ name: "the other node's stream", received: remote.received, expected: seqRange(6, 15) },
		],
		{ timeoutMs: 5000 },
	);
	expect(packets.get(channel)).toBe(10);
}, 40_000);

test("the REPL's tail on the embedded broker prints a channel's messages live (its mark makes them packets)", async () => {
	await packetProbe();
	const channel = randomUUID();
	repl = startRepl({ ...joinEnv(), NAMESPACE: namespace }, home);
	await repl.expectOutput(new RegExp(`Joined namespace "${namespace}" as repl-`));
	repl.send(`tail ${channel}`);
	await repl.expectOutput(`Tailing ${channel}`);
	for (const text of ["first", "second"])
		expect((await post(`${node.baseUrl}/api/channels/${channel}/messages`, { text, author: "ada" })).status).toBe(201);
	await repl.expectOutput(/#1 \S+ ada: first\n#2 \S+ ada: second\n/);
	expect(packets.get(channel)).toBe(2);
	repl.send("");
	await repl.expectOutput(`Stopped tailing ${channel}.`);
	repl.send("exit");
	expect(await repl.exitCode).toBe(0);
}, 30_000);

test("stops cleanly, taking its embedded broker with it", async () => {
	const port = embeddedPort();
	expect(await node.stop()).toBe(0);
	await waitFor(
		() =>
			new Promise<boolean>(resolve => {
				const socket = net.connect(port, "127.0.0.1");
				socket.once("connect", () => {
					socket.destroy();
					resolve(false);
				});
				socket.once("error", () => resolve(true));
			}),
		5000,
		"the embedded broker to be gone",
	);
});
