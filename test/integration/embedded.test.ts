/**
 * `npm start` on a fresh machine: no MQTT_URL, no REDIS_URL. The node starts its own MQTT broker
 * (another port when the wanted one is taken, as here by Mosquitto on 1883) and keeps history in memory.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { publishMany } from "../support/http";
import { startNode, uniqueNamespace, waitFor, type ChatcastNode } from "../support/node-process";
import { openStream } from "../support/sse-client";

let node: ChatcastNode;

beforeAll(async () => {
	node = await startNode({
		namespace: uniqueNamespace("embedded"),
		env: { MQTT_URL: "", REDIS_URL: "", EMBEDDED_MQTT_PORT: "1883", SSE_HEARTBEAT_MS: "200", LOG_LEVEL: "info" },
	});
}, 30_000);

afterAll(async () => {
	await node?.stop();
});

test("says which broker it started, and that history is in memory", () => {
	expect(node.output()).toMatch(
		/started the embedded MQTT broker at mqtt:\/\/127\.0\.0\.1:(\d+) \(port 1883 was taken, so a free one was chosen\)/,
	);
	expect(node.output()).toContain("history is in memory");
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

test("stops cleanly, taking its embedded broker with it", async () => {
	const port = Number(/mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(node.output())?.[1]);
	expect(port).toBeGreaterThan(0);
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
