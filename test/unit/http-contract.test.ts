/**
 * The HTTP contract of the README's "API" and "Errors" sections, over real HTTP (loopback) against one
 * in-process node (gateway, ingest, history in memory, broadcast); no Redis, no MQTT, no child process.
 */
import { randomUUID } from "node:crypto";
import type { EventSourceMessage } from "eventsource-parser";
import type { ChatMessage } from "../../src/message";
import { type InProcessNode, readStream, type StreamReader, startInProcess } from "../support/in-process";

/** Small, so the size limits are cheap to cross: the body limit is 2 × 32 + 1024 bytes. */
const MAX_MESSAGE_BYTES = 32;
const BODY_LIMIT = 2 * MAX_MESSAGE_BYTES + 1024;
/** Small, so a resume point falls out of history after a few messages. */
const HISTORY_LIMIT = 5;
const HEARTBEAT_MS = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let node: InProcessNode;
const streams: StreamReader[] = [];

beforeAll(async () => {
	node = await startInProcess({ maxMessageBytes: MAX_MESSAGE_BYTES, historyLimit: HISTORY_LIMIT, sseHeartbeatMs: HEARTBEAT_MS });
});

afterEach(() => {
	for (const stream of streams.splice(0)) stream.close();
});

afterAll(async () => {
	await node.stop();
});

interface Answer {
	status: number;
	headers: Headers;
	/** The parsed JSON body (undefined when empty or not JSON). */
	body: unknown;
}

/** A request and its whole answer; gives up after 2 s, so a stream where an error belongs fails the test quickly. */
async function request(path: string, init: RequestInit = {}, on: InProcessNode = node): Promise<Answer> {
	const res = await fetch(`${on.baseUrl}${path}`, { signal: AbortSignal.timeout(2000), ...init });
	const text = await res.text();
	const isJson = res.headers.get("content-type")?.startsWith("application/json") ?? false;
	return { status: res.status, headers: res.headers, body: isJson && text ? JSON.parse(text) : undefined };
}

function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
	return request(path, {
		method: "POST",
		headers: { "Content-Type": "application/json", ...headers },
		body: typeof body === "string" ? body : JSON.stringify(body),
	});
}

function postText(path: string, text: string, headers: Record<string, string> = {}, on: InProcessNode = node): Promise<Answer> {
	return request(path, { method: "POST", headers: { "Content-Type": "text/plain", ...headers }, body: text }, on);
}

const messagesOf = (channel: string): string => `/api/channels/${channel}/messages`;

async function history(channel: string): Promise<{ messages: ChatMessage[]; lastSeq: number }> {
	const answer = await request(messagesOf(channel));
	expect(answer.status).toBe(200);
	return answer.body as { messages: ChatMessage[]; lastSeq: number };
}

async function open(path: string, headers: Record<string, string> = {}): Promise<StreamReader> {
	const stream = await readStream(`${node.baseUrl}${path}`, headers);
	streams.push(stream);
	return stream;
}

const named = (events: EventSourceMessage[], name: string): EventSourceMessage[] => events.filter(e => e.event === name);

/** An error answer: the status, JSON, and `{ name, message, code, type, data? }` with `code` = status. */
function expectError(answer: Answer, status: number, type: string): void {
	expect({ status: answer.status, type: (answer.body as { type?: string } | undefined)?.type }).toEqual({ status, type });
	expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
	const body = answer.body as Record<string, unknown>;
	expect(Object.keys(body).every(key => ["name", "message", "code", "type", "data"].includes(key))).toBe(true);
	expect(body).toEqual(
		expect.objectContaining({ name: expect.any(String), message: expect.any(String), code: status, type: expect.any(String) }),
	);
}

describe("publishing", () => {
	test("JSON publish: 201 with the stored message and a Location that reads exactly it back", async () => {
		const channel = randomUUID().toUpperCase();
		const answer = await postJson(messagesOf(channel), { text: "hello", author: "ada", clientMsgId: "a1" });

		expect(answer.status).toBe(201);
		const message = answer.body as ChatMessage;
		expect(message).toEqual({
			id: expect.stringMatching(UUID),
			seq: 1,
			epoch: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/),
			channel: channel.toLowerCase(),
			author: "ada",
			text: "hello",
			sentAt: expect.any(String),
			clientMsgId: "a1",
		});
		expect(new Date(message.sentAt).toISOString()).toBe(message.sentAt);
		const location = answer.headers.get("location");
		expect(location).toBe(`/api/channels/${channel.toLowerCase()}/messages?after=0&limit=1`);

		const page = await request(location ?? "");
		expect(page.body).toEqual({
			channel: channel.toLowerCase(),
			epoch: message.epoch,
			messages: [message],
			oldestSeq: 1,
			lastSeq: 1,
		});
	});

	test("a repeated clientMsgId answers 200 with the original, stored once", async () => {
		const channel = randomUUID();
		const first = await postJson(messagesOf(channel), { text: "once", clientMsgId: "retry-1" });
		const again = await postJson(messagesOf(channel), { text: "once", clientMsgId: "retry-1" });

		expect([first.status, again.status]).toEqual([201, 200]);
		expect(again.body).toEqual(first.body);
		expect((await history(channel)).messages).toHaveLength(1);
	});

	test("text/plain publish: the body is the text, the author is anonymous", async () => {
		const channel = randomUUID();
		const answer = await postText(messagesOf(channel), "hi there\nsecond line");

		expect(answer.status).toBe(201);
		expect(answer.body).toEqual(expect.objectContaining({ seq: 1, author: "anonymous", text: "hi there\nsecond line" }));
		expect(answer.body).not.toHaveProperty("clientMsgId");
	});

	test.each([
		["JSON", (channel: string, key: string) => postJson(messagesOf(channel), { text: "k" }, { "Idempotency-Key": key })],
		["text/plain", (channel: string, key: string) => postText(messagesOf(channel), "k", { "Idempotency-Key": key })],
		[
			"the legacy route",
			(channel: string, key: string) => postText(`/chat/publish/${channel}/grace`, "k", { "Idempotency-Key": key }),
		],
	])("Idempotency-Key is the clientMsgId (%s): a retry stores once", async (_kind, publish) => {
		const channel = randomUUID();
		const first = await publish(channel, "key-1");
		const again = await publish(channel, "key-1");

		expect([first.status, again.status]).toEqual([201, 200]);
		expect(first.body).toEqual(expect.objectContaining({ seq: 1, clientMsgId: "key-1" }));
		expect(again.body).toEqual(first.body);
		expect((await history(channel)).messages).toHaveLength(1);
	});

	test("Idempotency-Key and a body clientMsgId: the same is fine, different ones are refused", async () => {
		const channel = randomUUID();
		const same = await postJson(messagesOf(channel), { text: "x", clientMsgId: "k-1" }, { "Idempotency-Key": "k-1" });
		expect(same.status).toBe(201);

		const differ = await postJson(messagesOf(channel), { text: "y", clientMsgId: "k-2" }, { "Idempotency-Key": "k-3" });
		expectError(differ, 400, "INVALID_CLIENT_MSG_ID");
		expect((await history(channel)).messages).toHaveLength(1);
	});

	test("the channel is the path's: a body or query `channel` does not move the message", async () => {
		const channel = randomUUID();
		const other = randomUUID();
		const answer = await postJson(`${messagesOf(channel)}?channel=${other}`, { text: "stays", channel: other });

		expect(answer.status).toBe(201);
		expect(answer.body).toEqual(expect.objectContaining({ channel }));
		expect((await history(other)).messages).toEqual([]);
	});

	test("the legacy publish: the raw body is the text, userId the author, whatever the Content-Type", async () => {
		const channel = randomUUID();
		const answer = await request(`/chat/publish/${channel}/grace`, {
			method: "POST",
			headers: { "Content-Type": "application/octet-stream" },
			body: "old client",
		});

		expect(answer.status).toBe(201);
		expect(answer.body).toEqual(expect.objectContaining({ seq: 1, author: "grace", text: "old client", channel }));
	});
});

describe("reading", () => {
	test("history page: { channel, epoch, messages, oldestSeq, lastSeq }, ascending, after and limit", async () => {
		const channel = randomUUID();
		const empty = await request(messagesOf(channel));
		// A channel that never had a message has no epoch yet.
		expect(empty.body).toEqual({ channel, epoch: "", messages: [], oldestSeq: 1, lastSeq: 0 });

		for (const text of ["one", "two", "three"]) expect((await postText(messagesOf(channel), text)).status).toBe(201);
		const page = await request(`${messagesOf(channel)}?after=1&limit=1`);

		expect(page.status).toBe(200);
		expect(page.body).toEqual({
			channel,
			epoch: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/),
			messages: [expect.objectContaining({ seq: 2, text: "two" })],
			oldestSeq: 1,
			lastSeq: 3,
		});
	});

	test("channel summary: { channel, lastSeq, subscribers, byNode }", async () => {
		const channel = randomUUID();
		await postText(messagesOf(channel), "one");
		const stream = await open(`/api/channels/${channel}/events`);
		await stream.waitFor(events => named(events, "presence").length > 0);

		const summary = await request(`/api/channels/${channel}`);
		expect(summary.status).toBe(200);
		expect(summary.body).toEqual({ channel, lastSeq: 1, subscribers: 1, byNode: { [node.broker.nodeID]: 1 } });
	});

	test("GET /api/limits follows the configuration", async () => {
		const answer = await request("/api/limits");
		expect(answer.status).toBe(200);
		expect(answer.body).toEqual({ maxMessageBytes: MAX_MESSAGE_BYTES, auth: "off" });
	});

	test("GET /api/health: the process answers", async () => {
		const answer = await request("/api/health");
		expect(answer.status).toBe(200);
		expect(answer.body).toEqual({ status: "ok", nodeID: node.broker.nodeID, uptimeSeconds: expect.any(Number) });
	});
});

describe("errors", () => {
	const channel = randomUUID();

	test.each([
		["publish", () => postJson("/api/channels/not-a-uuid/messages", { text: "x" })],
		["legacy publish", () => postText("/chat/publish/not-a-uuid/ada", "x")],
		["history", () => request("/api/channels/not-a-uuid/messages")],
		["summary", () => request("/api/channels/not-a-uuid")],
		["stream", () => request("/api/channels/not-a-uuid/events")],
		["legacy stream", () => request("/chat/receive/not-a-uuid")],
	])("invalid channel (%s): 400 INVALID_CHANNEL", async (_route, send) => {
		expectError(await send(), 400, "INVALID_CHANNEL");
	});

	test.each([
		["missing", {}],
		["empty", { text: "" }],
		["white space", { text: " \n\t " }],
	])("text %s: 400 EMPTY_MESSAGE", async (_case, body) => {
		expectError(await postJson(messagesOf(channel), body), 400, "EMPTY_MESSAGE");
	});

	test("an empty text/plain body: 400 EMPTY_MESSAGE", async () => {
		expectError(await postText(messagesOf(channel), ""), 400, "EMPTY_MESSAGE");
	});

	test.each([
		["not a string", 42],
		["65 characters", "a".repeat(65)],
		["a control character", "ad\u0007a"],
	])("author %s: 400 INVALID_AUTHOR", async (_case, author) => {
		expectError(await postJson(messagesOf(channel), { text: "x", author }), 400, "INVALID_AUTHOR");
	});

	test.each([
		["not a string", 7],
		["a space", "a b"],
		["129 characters", "k".repeat(129)],
		["non-ASCII", "clé"],
	])("clientMsgId %s: 400 INVALID_CLIENT_MSG_ID", async (_case, clientMsgId) => {
		expectError(await postJson(messagesOf(channel), { text: "x", clientMsgId }), 400, "INVALID_CLIENT_MSG_ID");
	});

	test("a malformed Idempotency-Key: 400 INVALID_CLIENT_MSG_ID", async () => {
		expectError(await postText(messagesOf(channel), "x", { "Idempotency-Key": "has space" }), 400, "INVALID_CLIENT_MSG_ID");
	});

	test.each([["abc"], ["-1"], ["1.5"], ["1e3"]])("Last-Event-ID %s: 400 INVALID_LAST_EVENT_ID, JSON, not a stream", async id => {
		expectError(
			await request(`/api/channels/${channel}/events`, { headers: { "Last-Event-ID": id } }),
			400,
			"INVALID_LAST_EVENT_ID",
		);
		expectError(await request(`/api/channels/${channel}/events?lastEventId=${id}`), 400, "INVALID_LAST_EVENT_ID");
		expectError(await request(`/chat/receive/${channel}`, { headers: { "Last-Event-ID": id } }), 400, "INVALID_LAST_EVENT_ID");
	});

	test.each([["{"], ['{"text":'], ['"just a string"'], ["42"]])("JSON body %s: 400 INVALID_JSON", async body => {
		expectError(await postJson(messagesOf(channel), body), 400, "INVALID_JSON");
	});

	test.each([
		["GET", "/api/nothing-here"],
		["GET", "/chat/nothing-here"],
		["GET", "/no-such-file.js"],
		// The demo page's files are at the root only, not under the API's prefixes.
		["GET", "/api"],
		["GET", "/api/"],
		["GET", "/api/app.js"],
		["GET", "/chat/style.css"],
		["DELETE", `/api/channels/${channel}/messages`],
		["POST", "/api/health"],
	])("%s %s: 404 NOT_FOUND", async (method, path) => {
		const init: RequestInit =
			method === "POST" ? { method, headers: { "Content-Type": "application/json" }, body: "{}" } : { method };
		expectError(await request(path, init), 404, "NOT_FOUND");
	});

	test("text over maxMessageBytes (UTF-8 bytes): 413 MESSAGE_TOO_LARGE, on every publish route", async () => {
		const fits = "é".repeat(MAX_MESSAGE_BYTES / 2); // 2 bytes each
		const over = `${fits}x`;
		expect((await postJson(messagesOf(channel), { text: fits })).status).toBe(201);
		expectError(await postJson(messagesOf(channel), { text: over }), 413, "MESSAGE_TOO_LARGE");
		expectError(await postText(messagesOf(channel), over), 413, "MESSAGE_TOO_LARGE");
		expectError(await postText(`/chat/publish/${channel}/ada`, over), 413, "MESSAGE_TOO_LARGE");
	});

	test("a body over 2 × maxMessageBytes + 1 KiB: 413 BODY_TOO_LARGE, on every publish route", async () => {
		const big = "x".repeat(BODY_LIMIT + 1);
		expectError(await postJson(messagesOf(channel), { text: big }), 413, "BODY_TOO_LARGE");
		expectError(await postText(messagesOf(channel), big), 413, "BODY_TOO_LARGE");
		expectError(await postText(`/chat/publish/${channel}/ada`, big), 413, "BODY_TOO_LARGE");
	});

	test.each([
		["application/x-www-form-urlencoded", "text=hi"],
		["multipart/form-data; boundary=x", "--x--"],
		["application/json; charset=latin1", '{"text":"hi"}'],
		[undefined, "hi"],
	])("publish as %s: 415 UNSUPPORTED_MEDIA_TYPE", async (contentType, body) => {
		const headers: Record<string, string> = contentType ? { "Content-Type": contentType } : {};
		// fetch labels a string body text/plain itself; a Blob without a type sends no Content-Type.
		const answer = await request(messagesOf(channel), { method: "POST", headers, body: contentType ? body : new Blob([body]) });
		expectError(answer, 415, "UNSUPPORTED_MEDIA_TYPE");
	});

	test.each([["limit=501"], ["limit=-1"], ["limit=ten"], ["after=-1"], ["after=1.5"]])(
		"history with %s: 422 VALIDATION_ERROR",
		async query => {
			expectError(await request(`${messagesOf(channel)}?${query}`), 422, "VALIDATION_ERROR");
		},
	);

	test("limit=500 is the largest page", async () => {
		expect((await request(`${messagesOf(channel)}?limit=500`)).status).toBe(200);
	});

	describe("a node without broadcast", () => {
		let core: InProcessNode;

		beforeAll(async () => {
			core = await startInProcess({ services: ["api", "ingest", "history"] });
		});

		afterAll(async () => {
			await core.stop();
		});

		test.each([["/api/channels/:c/events"], ["/chat/receive/:c"], ["/api/channels/:c"]])(
			"GET %s: 503 SERVICE_UNAVAILABLE, JSON",
			async path => {
				expectError(await request(path.replace(":c", channel), {}, core), 503, "SERVICE_UNAVAILABLE");
			},
		);

		test("publishing still works there", async () => {
			expect((await postText(messagesOf(channel), "no stream here", {}, core)).status).toBe(201);
		});
	});

	describe("a node without history", () => {
		let edge: InProcessNode;

		beforeAll(async () => {
			edge = await startInProcess({ services: ["api", "ingest", "broadcast"] });
		});

		afterAll(async () => {
			await edge.stop();
		});

		test("a publish: 503 STORE_UNAVAILABLE (not accepted)", async () => {
			expectError(await postText(messagesOf(channel), "lost?", {}, edge), 503, "STORE_UNAVAILABLE");
		});

		test.each([["/api/channels/:c/messages"], ["/api/channels/:c"], ["/api/channels/:c/events"], ["/chat/receive/:c"]])(
			"GET %s: 503 SERVICE_UNAVAILABLE, JSON",
			async path => {
				expectError(await request(path.replace(":c", channel), {}, edge), 503, "SERVICE_UNAVAILABLE");
			},
		);
	});
});

describe("headers", () => {
	test("SSE answers: text/event-stream, no-cache, no-transform, no proxy buffering", async () => {
		for (const path of [`/api/channels/${randomUUID()}/events`, `/chat/receive/${randomUUID()}`]) {
			const stream = await open(path, { "X-Request-ID": "stream-1" });
			expect(stream.status).toBe(200);
			expect(stream.headers["content-type"]).toMatch(/^text\/event-stream/);
			expect(stream.headers["cache-control"]).toBe("no-cache, no-transform");
			expect(stream.headers["x-accel-buffering"]).toBe("no");
			expect(stream.headers["x-request-id"]).toBe("stream-1");
		}
	});

	test("the demo page: HTML with a Content-Security-Policy and nosniff", async () => {
		const answer = await request("/");
		expect(answer.status).toBe(200);
		expect(answer.headers.get("content-type")).toMatch(/^text\/html/);
		const csp = answer.headers.get("content-security-policy") ?? "";
		expect(csp).toContain("default-src 'self'");
		expect(csp).toContain("script-src 'self'");
		expect(csp).not.toContain("unsafe-inline");
		expect(answer.headers.get("x-content-type-options")).toBe("nosniff");

		const script = await request("/app.js");
		expect(script.status).toBe(200);
		expect(script.headers.get("content-type")).toMatch(/^text\/javascript/);
		expect(script.headers.get("x-content-type-options")).toBe("nosniff");
	});

	test("a sane X-Request-ID is echoed, on answers and on errors", async () => {
		for (const path of ["/api/health", "/api/channels/not-a-uuid/messages", "/api/nothing-here"]) {
			const answer = await request(path, { headers: { "X-Request-ID": "req-1.a_b:c" } });
			expect(answer.headers.get("x-request-id")).toBe("req-1.a_b:c");
		}
	});

	test.each([
		["absent", undefined],
		["with spaces", "has some spaces"],
		["200 characters", "r".repeat(200)],
	])("an X-Request-ID %s is replaced by a new UUID", async (_case, requestId) => {
		const headers: Record<string, string> = requestId ? { "X-Request-ID": requestId } : {};
		const first = await request("/api/health", { headers });
		const second = await request("/api/health", { headers });
		expect(first.headers.get("x-request-id")).toMatch(UUID);
		expect(second.headers.get("x-request-id")).toMatch(UUID);
		expect(first.headers.get("x-request-id")).not.toBe(second.headers.get("x-request-id"));
	});
});

describe("the stream", () => {
	test("retry, presence, then each published message once as `event: message` with id = seq", async () => {
		const channel = randomUUID();
		const stream = await open(`/api/channels/${channel}/events`);
		// No waiting: the presence event must come before any message published once the stream answered.
		const sent: ChatMessage[] = [];
		for (const text of ["a", "b", "c"]) sent.push((await postText(messagesOf(channel), text)).body as ChatMessage);
		// A repeat is broadcast again (it heals a lost packet); the stream must still carry it once.
		await postJson(messagesOf(channel), { text: "c", clientMsgId: "again" });
		await postJson(messagesOf(channel), { text: "c", clientMsgId: "again" });
		const repeat = (await history(channel)).messages[3];

		const events = await stream.waitFor(all => named(all, "message").length >= 4);
		await new Promise(resolve => setTimeout(resolve, 50)); // time for a duplicate to show up
		expect(stream.retries).toEqual([node.config.sseRetryMs]);
		expect(events[0]).toEqual({ event: "presence", data: JSON.stringify({ subscribers: 1 }), id: undefined });
		const messages = named(events, "message");
		// The event id is `<epoch>.<seq>`: what EventSource sends back as Last-Event-ID.
		expect(messages.map(e => e.id)).toEqual([1, 2, 3, 4].map(seq => `${sent[0].epoch}.${seq}`));
		expect(messages.map(e => JSON.parse(e.data))).toEqual([...sent, repeat]);
	});

	test("Last-Event-ID replays what was missed, then goes on live", async () => {
		const channel = randomUUID();
		let epoch = "";
		for (const text of ["1", "2", "3", "4"]) epoch = ((await postText(messagesOf(channel), text)).body as ChatMessage).epoch;

		// The stream's own ids (`<epoch>.<seq>`) and a bare seq (of the current count), as header or query.
		const resumes: { headers: Record<string, string>; query: string }[] = [
			{ headers: { "Last-Event-ID": "2" }, query: "" },
			{ headers: {}, query: "?lastEventId=2" },
			{ headers: { "Last-Event-ID": `${epoch}.2` }, query: "" },
			{ headers: {}, query: `?lastEventId=${epoch}.2` },
		];
		for (const resume of resumes) {
			const stream = await open(`/api/channels/${channel}/events${resume.query}`, resume.headers);
			await stream.waitFor(events => named(events, "message").length >= 2);
			expect(named(stream.events, "message").map(e => JSON.parse(e.data).seq)).toEqual([3, 4]);
			stream.close();
		}

		const stream = await open(`/api/channels/${channel}/events`, { "Last-Event-ID": "3" });
		await stream.waitFor(events => named(events, "message").length >= 1);
		await postText(messagesOf(channel), "5");
		await stream.waitFor(events => named(events, "message").length >= 2);
		expect(named(stream.events, "message").map(e => JSON.parse(e.data).text)).toEqual(["4", "5"]);
	});

	test("an id of another count (the channel's restarted while the client was away): `event: reset`, then all retained", async () => {
		const channel = randomUUID();
		let epoch = "";
		for (const text of ["1", "2", "3"]) epoch = ((await postText(messagesOf(channel), text)).body as ChatMessage).epoch;
		const stream = await open(`/api/channels/${channel}/events`, { "Last-Event-ID": "AnOldCount00.2" });
		const events = await stream.waitFor(all => named(all, "message").length >= 3);
		expect(named(events, "reset").map(e => JSON.parse(e.data))).toEqual([{ epoch, oldestSeq: 1, lastSeq: 3 }]);
		expect(named(events, "message").map(e => JSON.parse(e.data).seq)).toEqual([1, 2, 3]);
	});

	test("a resume point no longer retained: `event: reset` { oldestSeq, lastSeq }, then what is retained", async () => {
		const channel = randomUUID();
		for (let i = 1; i <= HISTORY_LIMIT + 2; i++) await postText(messagesOf(channel), `m${i}`);

		const stream = await open(`/api/channels/${channel}/events`, { "Last-Event-ID": "1" });
		const events = await stream.waitFor(all => named(all, "message").length >= HISTORY_LIMIT);
		const oldestSeq = 3;
		const lastSeq = HISTORY_LIMIT + 2;
		expect(named(events, "reset").map(e => JSON.parse(e.data))).toEqual([{ epoch: expect.any(String), oldestSeq, lastSeq }]);
		expect(events.findIndex(e => e.event === "reset")).toBeLessThan(events.findIndex(e => e.event === "message"));
		expect(named(events, "message").map(e => JSON.parse(e.data).seq)).toEqual([3, 4, 5, 6, 7]);
	});

	test("a Last-Event-ID past the last seq (history restarted its count): reset, then what is retained", async () => {
		const channel = randomUUID();
		for (const text of ["new 1", "new 2"]) await postText(messagesOf(channel), text);

		const stream = await open(`/api/channels/${channel}/events`, { "Last-Event-ID": "99" });
		const events = await stream.waitFor(all => named(all, "message").length >= 2);
		expect(named(events, "reset").map(e => JSON.parse(e.data))).toEqual([
			{ epoch: expect.any(String), oldestSeq: 1, lastSeq: 2 },
		]);
		expect(named(events, "message").map(e => JSON.parse(e.data).text)).toEqual(["new 1", "new 2"]);
	});

	test("an idle stream gets `:` heartbeats every SSE_HEARTBEAT_MS", async () => {
		const stream = await open(`/api/channels/${randomUUID()}/events`);
		await stream.waitFor(() => stream.comments >= 2, 20 * HEARTBEAT_MS);
	});

	test("subscribers are told when the count changes: `event: presence` { subscribers }", async () => {
		const channel = randomUUID();
		const first = await open(`/api/channels/${channel}/events`);
		await first.waitFor(events => named(events, "presence").length >= 1);
		const second = await open(`/api/channels/${channel}/events`);
		await second.waitFor(events => named(events, "presence").length >= 1);

		const counts = (events: EventSourceMessage[]) => named(events, "presence").map(e => JSON.parse(e.data).subscribers);
		await first.waitFor(events => counts(events).includes(2));
		second.close();
		await first.waitFor(events => counts(events).at(-1) === 1);
		// Each change is told; a count may be told twice (the stream's first event, then the announcement of
		// its own join when it lands in a later presence interval than the second stream's).
		const changes = counts(first.events).filter((count, i, all) => i === 0 || count !== all[i - 1]);
		expect(changes).toEqual([1, 2, 1]);
	});

	test("the legacy stream carries { id, userId, message } with <epoch>.<seq> as the event id", async () => {
		const channel = randomUUID();
		const stream = await open(`/chat/receive/${channel}`);
		await waitForSubscriber(channel, 1);

		const sent = (await postText(`/chat/publish/${channel}/grace`, "from the old client")).body as ChatMessage;
		const events = await stream.waitFor(all => all.length >= 1);
		expect(stream.retries).toEqual([node.config.sseRetryMs]);
		expect(events).toHaveLength(1);
		expect(events[0].event ?? "message").toBe("message");
		expect(events[0].id).toBe(`${sent.epoch}.${sent.seq}`);
		expect(JSON.parse(events[0].data)).toEqual({ id: sent.id, userId: "grace", message: "from the old client" });
	});
});

/** The legacy stream sends no presence event, so wait until the hub counts the subscriber. */
async function waitForSubscriber(channel: string, count: number): Promise<void> {
	const deadline = Date.now() + 2000;
	while (((await request(`/api/channels/${channel}`)).body as { subscribers: number }).subscribers < count) {
		if (Date.now() > deadline) throw new Error(`no ${count} subscribers on ${channel}`);
		await new Promise(resolve => setTimeout(resolve, 10));
	}
}

describe("stopping", () => {
	test("a stopping node ends its open streams with a shorter retry, so its HTTP server can close", async () => {
		const edge = await startInProcess({});
		const stream = await readStream(`${edge.baseUrl}/api/channels/${randomUUID()}/events`);
		await stream.waitFor(events => events.length >= 1);

		await edge.stop(); // hangs (and the test times out) while a stream stays open
		await stream.waitFor(() => stream.ended);
		expect(stream.retries).toHaveLength(2);
		expect(stream.retries[1]).toBeLessThan(edge.config.sseRetryMs);
	}, 5000);
});
