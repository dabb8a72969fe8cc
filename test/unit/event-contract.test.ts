/**
 * What arrives over the bus is checked before a handler runs: a `chat.message` that is not a stored
 * message's shape, and a presence announcement that speaks for another node, are dropped.
 */
import { randomUUID } from "node:crypto";
import type { EventSourceMessage } from "eventsource-parser";
import { BROADCAST_GROUP, MESSAGE_EVENT, PRESENCE_EVENT } from "../../src/contract";
import type { ChatMessage } from "../../src/message";
import { type InProcessNode, readStream, type StreamReader, startInProcess } from "../support/in-process";

let node: InProcessNode;
const streams: StreamReader[] = [];

beforeAll(async () => {
	node = await startInProcess();
});

afterAll(async () => {
	for (const stream of streams) stream.close();
	await node.stop();
});

const messages = (events: EventSourceMessage[]): ChatMessage[] =>
	events.filter(e => e.event === "message").map(e => JSON.parse(e.data) as ChatMessage);

test("malformed chat.message events never reach a stream; the next real message does", async () => {
	const channel = randomUUID();
	const stream = await readStream(`${node.baseUrl}/api/channels/${channel}/events`);
	streams.push(stream);
	await stream.waitFor(events => events.some(e => e.event === "presence"));
	const base = { id: randomUUID(), seq: 1, epoch: "e", channel, author: "x", text: "forged", sentAt: new Date().toISOString() };
	for (const junk of [
		{ ...base, seq: -1 },
		{ ...base, seq: 1.5 },
		{ ...base, channel: "nope" },
		{ ...base, text: 42 },
		{ seq: 1 },
	]) {
		await node.broker.broadcast(MESSAGE_EVENT, junk, { groups: [BROADCAST_GROUP] });
	}
	const real = await fetch(`${node.baseUrl}/api/channels/${channel}/messages`, {
		method: "POST",
		headers: { "Content-Type": "text/plain" },
		body: "real",
	});
	expect(real.status).toBe(201);
	const events = await stream.waitFor(all => messages(all).length >= 1);
	expect(messages(events).map(m => m.text)).toEqual(["real"]);
});

test("a presence announcement for another node, or with absurd counts, changes nothing", async () => {
	const channel = randomUUID();
	const announce = (payload: unknown) => node.broker.broadcast(PRESENCE_EVENT, payload, { groups: [BROADCAST_GROUP] });
	await announce({ nodeID: "someone-else", counts: { [channel]: 1_000_000 } });
	await announce({ nodeID: node.broker.nodeID, counts: { [channel]: -5 } });
	await announce({ nodeID: node.broker.nodeID, counts: { "not-a-channel": 3 } });
	const summary = (await (await fetch(`${node.baseUrl}/api/channels/${channel}`)).json()) as { subscribers: number };
	expect(summary.subscribers).toBe(0);
});
