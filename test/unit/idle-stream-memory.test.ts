/**
 * What an open stream's response keeps for as long as the stream lives (BENCHMARKS.md, "Memory per idle
 * stream, third pass"): no table of headers (they went to writeHead, not setHeader) and no `once` wrappers
 * among its close listeners; the headers still all reach the client. In-process node, real HTTP. (Its header
 * block and its heap in all: test/integration/idle-stream-memory.test.ts.)
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { type InProcessNode, readStream, type StreamReader, startInProcess } from "../support/in-process";

const STREAMS = 5;

let node: InProcessNode;
/** The server side of every request, as the gateway's server got it. */
const responses: ServerResponse[] = [];
const streams: StreamReader[] = [];

beforeAll(async () => {
	node = await startInProcess({});
	const api: unknown = node.broker.getLocalService("api");
	const server = typeof api === "object" && api !== null && "server" in api ? (api.server as Server) : undefined;
	server?.on("request", (_req: IncomingMessage, res: ServerResponse) => responses.push(res));
	const channel = randomUUID();
	for (let i = 0; i < STREAMS; i++) streams.push(await readStream(`${node.baseUrl}/api/channels/${channel}/events`));
	await Promise.all(streams.map(s => s.waitFor(events => events.some(e => e.event === "presence"))));
});

afterAll(async () => {
	for (const stream of streams) stream.close();
	await node.stop();
});

test("every stream got its headers: the stream's own, the request id and nosniff", () => {
	expect(responses).toHaveLength(STREAMS);
	for (const stream of streams) {
		expect(stream.status).toBe(200);
		expect(stream.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
		expect(stream.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
		expect(stream.headers["x-content-type-options"]).toBe("nosniff");
	}
});

test("an open stream's response keeps no table of its headers", () => {
	for (const res of responses) {
		expect(res.headersSent).toBe(true);
		expect(res.getHeaderNames()).toEqual([]);
	}
});

test("an open stream's close listeners are plain functions, not once wrappers", () => {
	for (const res of responses) {
		const listeners = res.rawListeners("close");
		expect(listeners.length).toBeGreaterThan(0);
		for (const listener of listeners) expect("listener" in listener).toBe(false);
	}
});
