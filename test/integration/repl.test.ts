/**
 * The operator REPL as an operator uses it: the real `dist/src/bin/repl.js` process joins a real Chatcast
 * node over the real MQTT broker; commands are written to its stdin and its stdout is read. `tail` of a
 * channel no HTTP stream listens to still prints its messages live: the REPL writes the channel's interest
 * mark itself (without it, the append would say "nobody listens" and send no packet).
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { post } from "../support/http";
import { CLUSTER_SECRET, MQTT_URL, startNode, uniqueNamespace, type ChatcastNode } from "../support/node-process";
import { type ReplProcess, startRepl } from "../support/repl-process";
import { openStream } from "../support/sse-client";

describe("the operator REPL", () => {
	let node: ChatcastNode;
	let repl: ReplProcess | undefined;
	const namespace = uniqueNamespace("repl");
	const home = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-repl-"));

	beforeAll(async () => {
		node = await startNode({ namespace });
	});
	afterEach(() => repl?.kill());
	afterAll(async () => {
		await node?.stop();
		fs.rmSync(home, { recursive: true, force: true });
	});

	test("joins the cluster over MQTT_URL and runs every Chatcast command", async () => {
		const channel = randomUUID();
		repl = startRepl({ MQTT_URL, CLUSTER_SECRET, NAMESPACE: namespace }, home);
		await repl.expectOutput(new RegExp(`Joined namespace "${namespace}" as repl-`));

		repl.send(`say ${channel} hello from ops`);
		await repl.expectOutput(new RegExp(`Published in ${channel}: #1 \\S+ system: hello from ops\\n`));
		repl.send(`history ${channel}`);
		await repl.expectOutput(/#1 \S+ system: hello from ops\n/);

		const stream = await openStream(`${node.baseUrl}/api/channels/${channel}/events`);
		await stream.waitForEvent("presence");
		repl.send("channels");
		await repl.expectOutput(new RegExp(`${channel} +1\\n`));
		repl.send(`subscribers ${channel}`);
		await repl.expectOutput(new RegExp(`${channel}: 1 subscriber, last seq 1\\nnode +subscribers\\n${node.nodeID} +1\\n`));

		repl.send(`purge ${channel}`);
		await repl.expectOutput(`Delete the 1 retained message of ${channel}? [y/N] `);
		repl.send("n");
		await repl.expectOutput("Not purged.");
		repl.send(`purge ${channel} --yes`);
		await repl.expectOutput(`Purged 1 message of ${channel}.`);
		repl.send(`history ${channel}`);
		await repl.expectOutput(`No messages retained in ${channel} (last seq 1).`);

		repl.send(`tail ${channel}`);
		await repl.expectOutput(`Tailing ${channel}`);
		expect((await post(`${node.baseUrl}/api/channels/${channel}/messages`, { text: "live", author: "ada" })).status).toBe(201);
		await repl.expectOutput(/#2 \S+ ada: live\n/);
		repl.send("");
		await repl.expectOutput(`Stopped tailing ${channel}.`);
		stream.close();

		repl.send("history not-a-channel");
		await repl.expectOutput("Error: The channel must be a UUID. (INVALID_CHANNEL)");
		repl.send("exit");
		expect(await repl.exitCode).toBe(0);
		expect(repl.output()).not.toMatch(/\n\s+at /); // no stack trace anywhere
	});

	test("tail gets live messages of a channel no stream listens to: its own interest mark makes them packets", async () => {
		const channel = randomUUID();
		repl = startRepl({ MQTT_URL, CLUSTER_SECRET, NAMESPACE: namespace }, home);
		await repl.expectOutput(new RegExp(`Joined namespace "${namespace}" as repl-`));
		repl.send(`tail ${channel}`);
		await repl.expectOutput(`Tailing ${channel}`);
		for (const text of ["first", "second"])
			expect((await post(`${node.baseUrl}/api/channels/${channel}/messages`, { text, author: "ada" })).status).toBe(201);
		await repl.expectOutput(/#1 \S+ ada: first\n#2 \S+ ada: second\n/);
		repl.send("");
		await repl.expectOutput(`Stopped tailing ${channel}.`);
		repl.send("exit");
		expect(await repl.exitCode).toBe(0);
	});

	test("without MQTT_URL it says which broker to join and exits non-zero", async () => {
		repl = startRepl({ NAMESPACE: namespace }, home);
		expect(await repl.exitCode).toBe(2);
		expect(repl.output()).toContain("MQTT_URL must be set to the MQTT broker of the cluster to join");
	});
});
