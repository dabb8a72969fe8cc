/**
 * Who is online, over two edge processes with auth on: `GET /api/channels/:channel` lists the users of
 * both edges with their connections, a stream's `presence` events say who joined and who left (a user
 * on two edges leaves with their last connection), and an edge that dies takes its users with it.
 */
import { randomUUID } from "node:crypto";
import type { EventSourceMessage } from "eventsource-parser";
import { type ChatcastNode, startNode, uniqueNamespace, waitFor } from "../support/node-process";
import { request } from "../support/raw-http";
import { openStream, type TestStream } from "../support/sse-client";
import { hsToken, nowSeconds } from "../support/tokens";

const SECRET = "integration-presence-secret-0123456789ab";
const namespace = uniqueNamespace("presence");
const channel = randomUUID();
let edgeA: ChatcastNode;
let edgeB: ChatcastNode;
const streams: TestStream[] = [];

interface Listed {
	userId: string;
	name: string;
	connections: number;
}

async function usersOn(node: ChatcastNode): Promise<Listed[] | undefined> {
	const users: unknown = (await request(`${node.baseUrl}/api/channels/${channel}`)).json.users;
	return Array.isArray(users) ? (users as Listed[]) : undefined;
}

async function streamAs(node: ChatcastNode, sub: string, name: string): Promise<TestStream> {
	const jwt = await hsToken(SECRET, { sub, name, exp: nowSeconds() + 600 });
	const stream = await openStream(`${node.baseUrl}/api/channels/${channel}/events`, {
		headers: { Authorization: `Bearer ${jwt}` },
	});
	streams.push(stream);
	return stream;
}

const presenceEvents = (stream: TestStream): Array<{ joined?: Array<{ userId: string }>; left?: Array<{ userId: string }> }> =>
	stream.events.filter((e: EventSourceMessage) => e.event === "presence").map(e => JSON.parse(e.data));

beforeAll(async () => {
	const start = (): Promise<ChatcastNode> => startNode({ namespace, env: { AUTH_JWT_SECRET: SECRET } });
	[edgeA, edgeB] = await Promise.all([start(), start()]);
	for (const node of [edgeA, edgeB]) {
		await waitFor(async () => (await request(`${node.baseUrl}/api/ready`)).status === 200, 15_000, "node ready");
	}
}, 30_000);

afterAll(async () => {
	for (const s of streams) s.close();
	await Promise.all([edgeA?.stop(), edgeB?.stop()]);
});

test("users over both edges, joined and left, and a dead edge's users gone", async () => {
	const watcher = await streamAs(edgeA, "ada", "Ada");
	await streamAs(edgeB, "bob", "Bob");
	const bobOnA = await streamAs(edgeA, "bob", "Bob");

	const everyone = [
		{ userId: "ada", name: "Ada", connections: 1 },
		{ userId: "bob", name: "Bob", connections: 2 },
	];
	for (const node of [edgeA, edgeB]) {
		await waitFor(
			async () => JSON.stringify(await usersOn(node)) === JSON.stringify(everyone),
			10_000,
			`both users on ${node.nodeID}`,
		);
	}
	await waitFor(
		async () => presenceEvents(watcher).some(e => e.joined?.some(u => u.userId === "bob")),
		5_000,
		"ada's stream told that bob joined",
	);
	// The first presence event of a stream names who is there already.
	const late = await streamAs(edgeB, "cy", "Cy");
	expect(JSON.parse((await late.waitForEvent("presence")).data).users.map((u: Listed) => u.userId)).toEqual(
		expect.arrayContaining(["ada", "bob"]),
	);

	// Bob leaves edge A but is still on edge B: one connection fewer, no `left`.
	bobOnA.close();
	await waitFor(async () => (await usersOn(edgeA))?.find(u => u.userId === "bob")?.connections === 1, 10_000, "bob down to 1");
	expect(presenceEvents(watcher).some(e => e.left?.some(u => u.userId === "bob"))).toBe(false);

	// Edge B dies: bob and cy had no connection elsewhere, so they leave (once its heartbeats time out, 15 s).
	await edgeB.kill("SIGKILL");
	await waitFor(
		async () => JSON.stringify((await usersOn(edgeA))?.map(u => u.userId)) === JSON.stringify(["ada"]),
		40_000,
		"only ada left on edge A",
	);
	await waitFor(async () => presenceEvents(watcher).some(e => e.left?.some(u => u.userId === "bob")), 5_000, "bob left");
}, 90_000);

test("without auth, the channel summary has counts and no users", async () => {
	const plain = await startNode({ namespace: uniqueNamespace("presence-off") });
	try {
		await waitFor(async () => (await request(`${plain.baseUrl}/api/ready`)).status === 200, 15_000, "node ready");
		const stream = await openStream(`${plain.baseUrl}/api/channels/${channel}/events`);
		streams.push(stream);
		await waitFor(
			async () => (await request(`${plain.baseUrl}/api/channels/${channel}`)).json.subscribers === 1,
			5_000,
			"counted",
		);
		expect((await request(`${plain.baseUrl}/api/channels/${channel}`)).json).not.toHaveProperty("users");
	} finally {
		await plain.stop();
	}
});
