/**
 * Operations: health and readiness, Prometheus metrics, one JSON log line per request with a request id.
 */
import { randomUUID } from "node:crypto";
import { get, post, publishMany } from "../support/http";
import { startNode, uniqueNamespace, waitFor, freePort, type ChatcastNode, logEntriesOf } from "../support/node-process";
import { openStream } from "../support/sse-client";

const namespace = uniqueNamespace("ops");
let node: ChatcastNode;
let metricsPort: number;

beforeAll(async () => {
	metricsPort = await freePort();
	node = await startNode({ namespace, env: { METRICS_PORT: String(metricsPort), LOG_FORMAT: "json", LOG_LEVEL: "info" } });
}, 30_000);

afterAll(async () => {
	await node?.stop();
});

test("GET /api/health answers while the process lives", async () => {
	const answer = await get<{ status: string; nodeID: string }>(`${node.baseUrl}/api/health`);
	expect(answer.status).toBe(200);
	expect(answer.body).toMatchObject({ status: "ok", nodeID: node.nodeID });
});

test("GET /api/ready checks the transporter and Redis", async () => {
	const answer = await get(`${node.baseUrl}/api/ready`);
	expect(answer.status).toBe(200);
	expect(answer.body).toMatchObject({ status: "ready", checks: { transporter: "ok", history: "ok (redis)" } });
});

test("GET /api/ready is 503 NOT_READY, with the reason, when Redis does not answer", async () => {
	const broken = await startNode({ namespace: uniqueNamespace("notready"), env: { REDIS_URL: "redis://127.0.0.1:1" } });
	try {
		const answer = await get<{ data: { checks: Record<string, string> } }>(`${broken.baseUrl}/api/ready`);
		expect(answer.status).toBe(503);
		expect(answer.body).toMatchObject({ code: 503, type: "NOT_READY", data: { checks: { transporter: "ok" } } });
		expect(answer.body.data.checks.history).not.toMatch(/^ok/);
	} finally {
		await broken.stop();
	}
});

test("Prometheus metrics: Moleculer's and Chatcast's, labelled with the node", async () => {
	const channel = randomUUID();
	const stream = await openStream(`${node.baseUrl}/api/channels/${channel}/events`);
	await publishMany(node.baseUrl, channel, 3);
	await stream.waitForMessages(3);
	const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
	const value = (text: string, name: string): number => {
		const line = text.split("\n").find(l => l.startsWith(`${name}{`) && l.includes(`nodeID="${node.nodeID}"`));
		return line ? Number(line.split(" ").pop()) : NaN;
	};
	// Metric values are refreshed on scrape; wait until the deliveries are counted.
	const text = await waitFor(async () => {
		const t = await scrape();
		return value(t, "chatcast_messages_delivered_total") === 3 && t;
	});
	expect(value(text, "chatcast_messages_published_total")).toBe(3);
	expect(value(text, "chatcast_sse_connections")).toBe(1);
	expect(text).toMatch(/^chatcast_publish_to_deliver_seconds_bucket\{.*le="\+Inf".*\} 3$/m);
	expect(text).toContain("chatcast_gap_repairs_total");
	expect(text).toContain("chatcast_history_errors_total");
	expect(text).toMatch(/^moleculer_request_total\{/m);
	stream.close();
	await waitFor(async () => value(await scrape(), "chatcast_sse_connections") === 0);
});

test("each request is logged once as JSON, with route, status, duration and the request id", async () => {
	const channel = randomUUID();
	const answer = await fetch(`${node.baseUrl}/api/channels/${channel}/messages`, {
		method: "POST",
		headers: { "Content-Type": "application/json", "X-Request-ID": "req-test-42" },
		body: JSON.stringify({ text: "logged" }),
	});
	expect(answer.status).toBe(201);
	expect(answer.headers.get("x-request-id")).toBe("req-test-42");
	const generated = await post(`${node.baseUrl}/api/channels/${channel}/messages`, { text: "no id given" });
	expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

	const entries = (): Array<Record<string, unknown>> => logEntriesOf(node, "req-test-42");
	await waitFor(() => entries().length > 0);
	expect(entries()).toHaveLength(1);
	expect(entries()[0]).toMatchObject({
		level: 30,
		method: "POST",
		route: "/api/channels/:channel/messages",
		status: 201,
		durationMs: expect.any(Number),
		nodeID: node.nodeID,
	});
});
