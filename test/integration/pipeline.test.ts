/**
 * The whole message path with real processes: a gateway/ingest/history node and two broadcast edges,
 * each its own OS process, over the real MQTT broker (Mosquitto) and real Redis.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { ServiceBroker } from "moleculer";
import { mqttTransporter } from "../../moleculer.config";
import { loadConfig } from "../../src/config";
import { get, post, publishMany } from "../support/http";
import { CLUSTER_SECRET, MQTT_URL, startNode, uniqueNamespace, waitFor, type ChatcastNode } from "../support/node-process";
import { expectEachExactlyOnce } from "../support/exactly-once";
import { openStream, type TestStream } from "../support/sse-client";
import type { ChatMessage } from "../../src/message";

const HISTORY_LIMIT = 20;
const namespace = uniqueNamespace("pipeline");
let core: ChatcastNode;
let edgeA: ChatcastNode;
let edgeB: ChatcastNode;
/** A node of the test's own, on the same transporter: it checks the cluster and calls services directly. */
let observer: ServiceBroker;
const streams: TestStream[] = [];

async function stream(node: ChatcastNode, channel: string, lastEventId?: number): Promise<TestStream> {
	const s = await openStream(`${node.baseUrl}/api/channels/${channel}/events`, { lastEventId });
	streams.push(s);
	expect(s.status).toBe(200);
	return s;
}

const seqs = (messages: ChatMessage[]): number[] => messages.map(m => m.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeAll(async () => {
	const env = { HISTORY_LIMIT: String(HISTORY_LIMIT), SSE_RESYNC_MS: "300" };
	[core, edgeA, edgeB] = await Promise.all([
		startNode({ namespace, services: ["api", "ingest", "history"], env }),
		startNode({ namespace, services: ["api", "broadcast"], env }),
		startNode({ namespace, services: ["api", "broadcast"], env }),
	]);
	observer = new ServiceBroker({
		namespace,
		nodeID: `${namespace}-observer`,
		transporter: mqttTransporter({ urls: [MQTT_URL], secrets: [CLUSTER_SECRET] }, loadConfig({}).mqttTopicSeparator),
		logger: false,
	});
	await observer.start();
	// The core must know both edges before it publishes, or it would broadcast to one only.
	await waitFor(
		async () => {
			const nodes = await observer.call<Array<{ id: string; available: boolean }>, object>(
				"$node.list",
				{},
				{ nodeID: core.nodeID },
			);
			return [edgeA.nodeID, edgeB.nodeID].every(id => nodes.some(n => n.id === id && n.available));
		},
		20_000,
		"the core to discover both edges",
	);
	// …and each edge must reach history before it can open streams.
	for (const edge of [edgeA, edgeB]) {
		await waitFor(
			async () => (await get(`${edge.baseUrl}/api/channels/${randomUUID()}`)).status === 200,
			20_000,
			"the edges to discover history",
		);
	}
}, 60_000);

afterAll(async () => {
	for (const s of streams) s.close();
	await observer?.stop();
	await Promise.all([core, edgeA, edgeB].filter(Boolean).map(node => node.stop()));
});

describe("publish → history → MQTT → SSE on two broadcast nodes", () => {
	test("every subscriber on each edge gets every message exactly once, in order", async () => {
		const channel = randomUUID();
		const subscribers = [
			await stream(edgeA, channel),
			await stream(edgeA, channel),
			await stream(edgeB, channel),
			await stream(edgeB, channel),
		];
		const sent = await publishMany(core.baseUrl, channel, 30);
		expect(seqs(sent)).toEqual(range(1, 30));
		await expectEachExactlyOnce(
			subscribers.map((s, i) => ({ name: `subscriber ${i + 1}`, received: s.received, expected: range(1, 30) })),
		);
		for (const s of subscribers) expect(s.messages.map(m => m.text)).toEqual(sent.map(m => m.text));
	});

	test("streams answer with SSE headers, a retry hint and the subscriber count", async () => {
		const channel = randomUUID();
		const s = await stream(edgeA, channel);
		expect(s.status).toBe(200);
		expect(s.headers["content-type"]).toMatch(/^text\/event-stream/);
		expect(s.headers["cache-control"]).toBe("no-cache, no-transform");
		expect(s.headers["x-accel-buffering"]).toBe("no");
		expect(s.headers.connection).toBe("close");
		expect(s.headers["transfer-encoding"]).toBeUndefined();
		await waitFor(() => s.retry !== undefined);
		expect(s.retry).toBe(2000);
		const presence = await s.waitForEvent("presence");
		expect(JSON.parse(presence.data)).toEqual({ subscribers: 1 });
	});

	test("a stream's body is its SSE frames as they are: no chunked framing, delimited by the connection's close", async () => {
		const channel = randomUUID();
		const { hostname, port } = new URL(edgeA.baseUrl);
		const socket = net.connect(Number(port), hostname);
		const chunks: Buffer[] = [];
		socket.on("data", chunk => chunks.push(chunk));
		const ended = new Promise(resolve => socket.once("end", resolve));
		socket.write(`GET /api/channels/${channel}/events HTTP/1.1\r\nHost: test\r\n\r\n`);
		const text = (): string => Buffer.concat(chunks).toString();
		await waitFor(() => text().includes("event: presence"), 10_000, "the stream to open");
		await publishMany(core.baseUrl, channel, 2);
		await waitFor(() => (text().match(/event: message/g) ?? []).length === 2, 10_000, "both messages");
		const [head, body] = text().split("\r\n\r\n");
		expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
		expect(head).not.toMatch(/transfer-encoding/i);
		// No chunk sizes or CRLFs between the frames: the body is nothing but SSE.
		expect(body).toMatch(/^retry: 2000\n\nevent: presence\ndata: \{"subscribers":1\}\n\n/);
		expect(body.split("\n\n").filter(f => f.includes("event: message"))).toEqual([
			expect.stringMatching(/^id: [0-9A-Za-z_-]+\.1\nevent: message\ndata: \{.*"seq":1.*\}$/),
			expect.stringMatching(/^id: [0-9A-Za-z_-]+\.2\nevent: message\ndata: \{.*"seq":2.*\}$/),
		]);
		expect(body).not.toContain("\r");
		socket.end();
		await ended;
	});

	test("a subscriber that reconnects with Last-Event-ID (to the other edge) gets exactly the missed ones", async () => {
		const channel = randomUUID();
		const first = await stream(edgeA, channel);
		await publishMany(core.baseUrl, channel, 5);
		await first.waitForMessages(5);
		first.close();
		const lastEventId = first.messages[first.messages.length - 1].seq;

		await publishMany(core.baseUrl, channel, 4, "missed");
		const again = await stream(edgeB, channel, lastEventId);
		await again.waitForMessages(4);
		await publishMany(core.baseUrl, channel, 1, "live");
		await expectEachExactlyOnce([{ name: "resumed subscriber", received: again.received, expected: range(6, 10) }]);
		expect(again.messages.map(m => m.text)).toEqual(["missed1", "missed2", "missed3", "missed4", "live1"]);
		expect(again.events.some(e => e.event === "reset")).toBe(false);
	});

	test("?lastEventId= works like the header", async () => {
		const channel = randomUUID();
		await publishMany(core.baseUrl, channel, 3);
		const s = await openStream(`${edgeB.baseUrl}/api/channels/${channel}/events?lastEventId=1`);
		streams.push(s);
		await s.waitForMessages(2);
		expect(seqs(s.messages)).toEqual([2, 3]);
	});

	test("a subscriber behind the retained window gets event: reset, then what is retained", async () => {
		const channel = randomUUID();
		await publishMany(core.baseUrl, channel, HISTORY_LIMIT + 5);
		const s = await stream(edgeA, channel, 2);
		await s.waitForMessages(HISTORY_LIMIT);
		const resetAt = s.events.findIndex(e => e.event === "reset");
		expect(resetAt).toBeGreaterThanOrEqual(0);
		expect(JSON.parse(s.events[resetAt].data)).toEqual({ epoch: s.messages[0].epoch, oldestSeq: 6, lastSeq: HISTORY_LIMIT + 5 });
		expect(resetAt).toBeLessThan(s.events.findIndex(e => e.event === "message"));
		expect(seqs(s.messages)).toEqual(range(6, HISTORY_LIMIT + 5));
	});

	/** Stores a message the way ingest does, but broadcasts nothing: as if its MQTT packet had been lost. */
	const storeWithoutBroadcast = (channel: string, text: string): Promise<unknown> =>
		observer.call("history.append", { id: randomUUID(), channel, author: "ghost", text, sentAt: new Date().toISOString() });

	test("a message whose broadcast was lost is repaired from history, in order", async () => {
		const channel = randomUUID();
		const a = await stream(edgeA, channel);
		const b = await stream(edgeB, channel);
		await publishMany(core.baseUrl, channel, 1);
		await storeWithoutBroadcast(channel, "lost packet");
		await publishMany(core.baseUrl, channel, 1, "after");
		for (const s of [a, b]) {
			await s.waitForMessages(3);
			expect(seqs(s.messages)).toEqual([1, 2, 3]);
			expect(s.messages[1].text).toBe("lost packet");
		}
	});

	test("a lost last message (no later message shows the gap) still arrives, from the periodic heads check", async () => {
		const channel = randomUUID();
		const a = await stream(edgeA, channel);
		const b = await stream(edgeB, channel);
		await publishMany(core.baseUrl, channel, 1);
		await storeWithoutBroadcast(channel, "last and lost");
		for (const s of [a, b]) {
			await s.waitForMessages(2, 5000);
			expect(seqs(s.messages)).toEqual([1, 2]);
		}
	});

	test("history API: ascending pages after a seq, bounded limit", async () => {
		const channel = randomUUID().toUpperCase();
		await publishMany(core.baseUrl, channel, 7);
		const page = await get<{ channel: string; messages: ChatMessage[]; oldestSeq: number; lastSeq: number }>(
			`${edgeA.baseUrl}/api/channels/${channel}/messages?after=2&limit=3`,
		);
		expect(page.status).toBe(200);
		expect(page.body.channel).toBe(channel.toLowerCase());
		expect(seqs(page.body.messages)).toEqual([3, 4, 5]);
		expect(page.body).toMatchObject({ oldestSeq: 1, lastSeq: 7 });
		expect(
			seqs((await get<{ messages: ChatMessage[] }>(`${core.baseUrl}/api/channels/${channel}/messages`)).body.messages),
		).toEqual(range(1, 7));
		const tooMany = await get(`${core.baseUrl}/api/channels/${channel}/messages?limit=501`);
		expect(tooMany.status).toBe(422);
		expect(tooMany.body).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
	});

	test("a retried publish with the same clientMsgId answers 200 with the original", async () => {
		const channel = randomUUID();
		const url = `${core.baseUrl}/api/channels/${channel}/messages`;
		const first = await post(url, { text: "once", clientMsgId: "retry-1" });
		const again = await post(url, { text: "once", clientMsgId: "retry-1" });
		expect(first.status).toBe(201);
		expect(again.status).toBe(200);
		expect(again.body).toEqual(first.body);
		expect((await get<{ lastSeq: number }>(`${core.baseUrl}/api/channels/${channel}`)).body.lastSeq).toBe(1);
	});

	test("text/plain bodies are the message text", async () => {
		const channel = randomUUID();
		const answer = await post(`${core.baseUrl}/api/channels/${channel}/messages`, "plain\ntext");
		expect(answer.status).toBe(201);
		expect(answer.body).toMatchObject({ seq: 1, text: "plain\ntext", author: "anonymous" });
	});
});

describe("the original system's routes", () => {
	test("POST /chat/publish/:channel/:userId and GET /chat/receive/:channel", async () => {
		const channel = randomUUID();
		const legacy = await openStream(`${edgeA.baseUrl}/chat/receive/${channel}`);
		streams.push(legacy);
		const res = await fetch(`${core.baseUrl}/chat/publish/${channel}/olduser`, {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: "hi from the old client",
		});
		expect(res.status).toBe(201);
		await waitFor(() => legacy.events.length === 1);
		expect(legacy.events[0].id).toMatch(/^[\w-]{12}\.1$/);
		expect(JSON.parse(legacy.events[0].data)).toEqual({
			id: expect.any(String),
			userId: "olduser",
			message: "hi from the old client",
		});
	});
});

describe("errors: status and JSON body with a stable type", () => {
	const channel = randomUUID();
	const cases: Array<[string, () => Promise<{ status: number; body: unknown }>, number, string]> = [
		[
			"invalid channel (publish)",
			() => post(`${core.baseUrl}/api/channels/not-a-uuid/messages`, { text: "x" }),
			400,
			"INVALID_CHANNEL",
		],
		["invalid channel (history)", () => get(`${core.baseUrl}/api/channels/not-a-uuid/messages`), 400, "INVALID_CHANNEL"],
		["invalid channel (stream)", () => get(`${edgeA.baseUrl}/api/channels/not-a-uuid/events`), 400, "INVALID_CHANNEL"],
		[
			"bad Last-Event-ID",
			() => get(`${edgeA.baseUrl}/api/channels/${channel}/events`, { "Last-Event-ID": "abc" }),
			400,
			"INVALID_LAST_EVENT_ID",
		],
		["empty text", () => post(`${core.baseUrl}/api/channels/${channel}/messages`, { text: "  " }), 400, "EMPTY_MESSAGE"],
		["missing text", () => post(`${core.baseUrl}/api/channels/${channel}/messages`, { author: "a" }), 400, "EMPTY_MESSAGE"],
		[
			"text too long",
			() => post(`${core.baseUrl}/api/channels/${channel}/messages`, { text: "x".repeat(4097) }),
			413,
			"MESSAGE_TOO_LARGE",
		],
		[
			"body over limit",
			() => post(`${core.baseUrl}/api/channels/${channel}/messages`, { text: "x".repeat(20_000) }),
			413,
			"BODY_TOO_LARGE",
		],
		[
			"wrong content type",
			() => post(`${core.baseUrl}/api/channels/${channel}/messages`, "<x/>", "application/xml"),
			415,
			"UNSUPPORTED_MEDIA_TYPE",
		],
		[
			"malformed JSON",
			() => post(`${core.baseUrl}/api/channels/${channel}/messages`, "{oops", "application/json"),
			400,
			"INVALID_JSON",
		],
		["unknown route", () => get(`${core.baseUrl}/api/nothing-here`), 404, "NOT_FOUND"],
		["unknown page", () => get(`${core.baseUrl}/nothing-here.html`), 404, "NOT_FOUND"],
		[
			"stream on a node without broadcast",
			() => get(`${core.baseUrl}/api/channels/${channel}/events`),
			503,
			"SERVICE_UNAVAILABLE",
		],
	];

	test.each(cases)("%s", async (_name, request, status, type) => {
		const answer = await request();
		expect(answer.status).toBe(status);
		expect(answer.body).toMatchObject({ name: expect.any(String), message: expect.any(String), code: status, type });
	});

	test("store down: publish and stream answer 503 STORE_UNAVAILABLE", async () => {
		const ns = uniqueNamespace("storedown");
		const broken = await startNode({ namespace: ns, env: { REDIS_URL: "redis://127.0.0.1:1" } });
		try {
			const ch = randomUUID();
			const answer = await post(`${broken.baseUrl}/api/channels/${ch}/messages`, { text: "will not be accepted" });
			expect(answer.status).toBe(503);
			expect(answer.body).toMatchObject({ code: 503, type: "STORE_UNAVAILABLE" });
			const events = await get(`${broken.baseUrl}/api/channels/${ch}/events`);
			expect(events.status).toBe(503);
			expect(events.body).toMatchObject({ code: 503, type: "STORE_UNAVAILABLE" });
		} finally {
			await broken.stop();
		}
	});
});
