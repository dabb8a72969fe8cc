/**
 * What arrives over the bus is checked before a handler runs: a presence announcement that speaks for
 * another node, or with absurd counts, is dropped. (Messages arrive over the channel bus, whose checks
 * test/unit/channel-bus.test.ts covers.)
 */
import { randomUUID } from "node:crypto";
import { BROADCAST_GROUP, PRESENCE_EVENT } from "../../src/contract";
import { type InProcessNode, startInProcess } from "../support/in-process";

let node: InProcessNode;

beforeAll(async () => {
	node = await startInProcess();
});

afterAll(async () => {
	await node.stop();
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
