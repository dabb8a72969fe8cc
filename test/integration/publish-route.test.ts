/**
 * The lean publish route (src/publish-route.ts) on a real node over real HTTP: plain publishes are
 * served without moleculer-web and without an `ingest.publish` call (Moleculer's request counter for it
 * does not move), every other form falls back to moleculer-web (the counter moves), and both answer
 * alike: byte-identical errors, the token, the rate limit, the origin policy, the metric, the log line.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { hsToken } from "../support/tokens";
import { type ChatcastNode, freePort, logEntriesOf, startNode, uniqueNamespace, waitFor } from "../support/node-process";

const SECRET = "publish-route-test-secret-0123456789abcdef";
const ALLOWED_ORIGIN = "https://app.example";
const MAX_MESSAGE_BYTES = 64;
const BURST = 5;

let node: ChatcastNode;
let metricsPort: number;

beforeAll(async () => {
	metricsPort = await freePort();
	node = await startNode({
		namespace: uniqueNamespace("pubroute"),
		env: {
			METRICS_PORT: String(metricsPort),
			LOG_FORMAT: "json",
			LOG_LEVEL: "info",
			AUTH_JWT_SECRET: SECRET,
			RATE_LIMITS: "on",
			PUBLISH_BURST: String(BURST),
			PUBLISH_RATE: "0.01",
			CORS_ORIGINS: ALLOWED_ORIGIN,
			MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
		},
	});
}, 30_000);

afterAll(async () => {
	await node?.stop();
});

/** A token of a user of its own (so that its rate-limit bucket is fresh). */
const tokenFor = (claims: Record<string, unknown> = {}): Promise<string> =>
	hsToken(SECRET, { sub: `u-${randomUUID().slice(0, 8)}`, name: "Ada", ...claims });

interface RawAnswer {
	status: number;
	/** The answer's head without its Date line, as sent. */
	head: string;
	body: string;
	json: Record<string, unknown>;
}

/** Sends `head` + `body` as they are on a socket of its own, and reads the answer until the server closes it. */
function exchange(head: string[], body: Buffer | string = ""): Promise<RawAnswer> {
	return new Promise((resolve, reject) => {
		const socket = net.connect(node.port, "127.0.0.1");
		const chunks: Buffer[] = [];
		socket.on("data", chunk => chunks.push(chunk));
		socket.on("error", reject);
		socket.on("end", () => {
			const text = Buffer.concat(chunks).toString("utf8");
			const split = text.indexOf("\r\n\r\n");
			const headLines = text.slice(0, split).split("\r\n");
			let rest = text.slice(split + 4);
			if (/^transfer-encoding: chunked$/im.test(text.slice(0, split))) rest = dechunk(rest);
			let json: Record<string, unknown> = {};
			try {
				json = JSON.parse(rest);
			} catch {
				// not JSON
			}
			resolve({
				status: Number(headLines[0].split(" ")[1]),
				head: headLines.filter(line => !/^date:/i.test(line)).join("\r\n"),
				body: rest,
				json,
			});
		});
		// Not half-closed: the server closes the connection after its answer (Connection: close).
		socket.write(`${[...head, "Connection: close"].join("\r\n")}\r\n\r\n`);
		socket.write(body);
	});
}

function dechunk(text: string): string {
	let out = "";
	let rest = text;
	for (;;) {
		const line = rest.indexOf("\r\n");
		const size = Number.parseInt(rest.slice(0, line), 16);
		if (!size) return out;
		out += rest.slice(line + 2, line + 2 + size);
		rest = rest.slice(line + 2 + size + 2);
	}
}

interface Publish {
	path: string;
	headers?: Record<string, string>;
	body?: Buffer | string;
	/** Send the body chunked instead of with a Content-Length. */
	chunked?: boolean;
}

/** A POST as given: Host, X-Request-ID fixed (so two answers compare byte for byte), Content-Length unless chunked. */
function post({ path, headers = {}, body = "", chunked = false }: Publish): Promise<RawAnswer> {
	const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
	const lines = [`POST ${path} HTTP/1.1`, `Host: 127.0.0.1:${node.port}`, "X-Request-ID: fixed-id"];
	for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
	if (!chunked) return exchange([...lines, `Content-Length: ${bytes.length}`], bytes);
	const framed = Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n0\r\n\r\n")]);
	return exchange([...lines, "Transfer-Encoding: chunked"], framed);
}

const messagesPath = (channel: string): string => `/api/channels/${channel}/messages`;

async function scrape(): Promise<string> {
	return (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
}

/** The texts stored in a channel, oldest first. */
async function storedTexts(channel: string): Promise<string[]> {
	const page = (await (await fetch(`${node.baseUrl}${messagesPath(channel)}?after=0`)).json()) as {
		messages: { text: string }[];
	};
	return page.messages.map(m => m.text);
}

/** Sum of a metric's series on this node (optionally only those whose labels contain `labelPart`). */
function metric(text: string, name: string, labelPart = ""): number {
	return text
		.split("\n")
		.filter(line => line.startsWith(`${name}{`) && line.includes(`nodeID="${node.nodeID}"`) && line.includes(labelPart))
		.reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

/** How many times ingest.publish ran as a Moleculer action: only moleculer-web's path calls it. */
async function ingestCalls(): Promise<number> {
	return metric(await scrape(), "moleculer_request_total", 'action="ingest.publish"');
}

/** Runs `work` and resolves with how many ingest.publish calls it made (metrics are refreshed on scrape). */
async function countIngestCalls(work: () => Promise<void>): Promise<number> {
	const before = await ingestCalls();
	await work();
	return (await ingestCalls()) - before;
}

test("plain publishes take the lean route: stored, 201 with Location, counted, without an ingest.publish call", async () => {
	const channel = randomUUID();
	const token = await tokenFor();
	const auth = { Authorization: `Bearer ${token}` };
	const publishedBefore = metric(await scrape(), "chatcast_messages_published_total");
	const answers: RawAnswer[] = [];
	const calls = await countIngestCalls(async () => {
		answers.push(await post({ path: messagesPath(channel), headers: { ...auth, "Content-Type": "text/plain" }, body: "one" }));
		answers.push(
			await post({
				path: messagesPath(channel),
				headers: { ...auth, "Content-Type": "application/json; charset=UTF-8", "Idempotency-Key": "k-2" },
				body: JSON.stringify({ text: "two", author: "ignored" }),
			}),
		);
		// The legacy route, with no Content-Type at all.
		answers.push(await post({ path: `/chat/publish/${channel}/bob`, headers: auth, body: "three" }));
	});
	expect(calls).toBe(0);
	expect(answers.map(a => a.status)).toEqual([201, 201, 201]);
	expect(answers.map(a => [a.json.seq, a.json.text, a.json.author])).toEqual([
		[1, "one", "Ada"],
		[2, "two", "Ada"],
		[3, "three", "Ada"],
	]);
	expect(answers[1].json.clientMsgId).toBe("k-2");
	expect(answers[0].head).toMatch(new RegExp(`\r\nLocation: /api/channels/${channel}/messages\\?after=0&limit=1\r\n`));
	expect(answers[0].head).toContain("\r\nX-Content-Type-Options: nosniff\r\n");
	expect(answers[0].head).toContain("\r\nX-Request-ID: fixed-id\r\n");
	expect(await storedTexts(channel)).toEqual(["one", "two", "three"]);
	const published = await waitFor(async () => {
		const value = metric(await scrape(), "chatcast_messages_published_total");
		return value === publishedBefore + 3 && value;
	});
	expect(published).toBe(publishedBefore + 3);
});

test("a repeat on the lean route answers 200 with the original and no Location", async () => {
	const channel = randomUUID();
	const headers = { Authorization: `Bearer ${await tokenFor()}`, "Content-Type": "text/plain", "Idempotency-Key": "same" };
	const first = await post({ path: messagesPath(channel), headers, body: "once" });
	const again = await post({ path: messagesPath(channel), headers, body: "once" });
	expect([first.status, again.status]).toEqual([201, 200]);
	expect(again.body).toBe(first.body);
	expect(again.head).not.toMatch(/\r\nLocation:/i);
});

test("every other form falls back to moleculer-web (gzip, chunked, another charset, a query) and is stored alike", async () => {
	const channel = randomUUID();
	const auth = { Authorization: `Bearer ${await tokenFor()}` };
	const answers: RawAnswer[] = [];
	const calls = await countIngestCalls(async () => {
		answers.push(
			await post({
				path: messagesPath(channel),
				headers: { ...auth, "Content-Type": "text/plain", "Content-Encoding": "gzip" },
				body: gzipSync("zipped"),
			}),
		);
		answers.push(
			await post({
				path: messagesPath(channel),
				headers: { ...auth, "Content-Type": "text/plain" },
				body: "chunks",
				chunked: true,
			}),
		);
		answers.push(
			await post({
				path: messagesPath(channel),
				headers: { ...auth, "Content-Type": "text/plain; charset=iso-8859-1" },
				body: Buffer.from([0x63, 0x61, 0x66, 0xe9]),
			}),
		);
		answers.push(
			await post({ path: `${messagesPath(channel)}?x=1`, headers: { ...auth, "Content-Type": "text/plain" }, body: "query" }),
		);
	});
	expect(answers.map(a => a.status)).toEqual([201, 201, 201, 201]);
	expect(answers.map(a => a.json.text)).toEqual(["zipped", "chunks", "café", "query"]);
	expect(calls).toBe(4);
});

/** An error case: what a request sends; by default a fresh user's token and the channel's publish path. */
interface ErrorCase {
	name: string;
	status: number;
	contentType?: string;
	body: string;
	/** Default: a token of a user of its own (every publish takes from its user's bucket). */
	token?: () => Promise<string | undefined>;
	path?: (channel: string) => string;
	headers?: Record<string, string>;
	/** Done first, with the case's headers (e.g. emptying the bucket). */
	before?: (publish: Publish) => Promise<void>;
}

const ERROR_CASES: ErrorCase[] = [
	{ name: "INVALID_CHANNEL", status: 400, body: "x", path: () => "/api/channels/not-a-uuid/messages" },
	{ name: "INVALID_JSON", status: 400, contentType: "application/json", body: "{bad" },
	{ name: "INVALID_JSON (not an object)", status: 400, contentType: "application/json", body: ' "text"' },
	{ name: "EMPTY_MESSAGE", status: 400, contentType: "application/json", body: "" },
	{ name: "INVALID_TEXT", status: 400, body: "a\u0007b" },
	{ name: "MESSAGE_TOO_LARGE", status: 413, body: "x".repeat(MAX_MESSAGE_BYTES + 1) },
	{
		name: "INVALID_CLIENT_MSG_ID (header and body differ)",
		status: 400,
		contentType: "application/json",
		headers: { "Idempotency-Key": "a" },
		body: JSON.stringify({ text: "x", clientMsgId: "b" }),
	},
	{ name: "UNAUTHORIZED (missing)", status: 401, body: "x", token: async () => undefined },
	{ name: "UNAUTHORIZED (bad signature)", status: 401, body: "x", token: async () => `${await tokenFor()}x` },
	{ name: "FORBIDDEN", status: 403, body: "x", token: () => tokenFor({ channels: [randomUUID()] }) },
	{
		name: "INVALID_AUTHOR (a token named system, legacy route)",
		status: 400,
		body: "x",
		token: () => tokenFor({ name: "System" }),
		path: channel => `/chat/publish/${channel}/bob`,
	},
	{
		name: "RATE_LIMITED",
		status: 429,
		body: "x",
		before: async publish => {
			for (let i = 0; i < BURST; i++) await post({ ...publish, body: "fill" });
		},
	},
];

test("errors are byte-identical on the lean route and through moleculer-web", async () => {
	const channel = randomUUID();
	// Each case is sent plain (lean) and with an empty query (moleculer-web), which means the same.
	for (const errorCase of ERROR_CASES) {
		const send = async (query: string): Promise<RawAnswer> => {
			const token = await (errorCase.token ?? tokenFor)();
			const headers: Record<string, string> = { "Content-Type": errorCase.contentType ?? "text/plain", ...errorCase.headers };
			if (token !== undefined) headers.Authorization = `Bearer ${token}`;
			const path = (errorCase.path ?? messagesPath)(channel);
			await errorCase.before?.({ path, headers, body: "" });
			return post({ path: path + query, headers, body: errorCase.body });
		};
		const lean = await send("");
		const gateway = await send("?");
		expect([errorCase.name, lean.status]).toEqual([errorCase.name, errorCase.status]);
		expect([errorCase.name, lean.head, lean.body]).toEqual([errorCase.name, gateway.head, gateway.body]);
	}
});

function bearer(token: string, contentType: string): Record<string, string> {
	return { Authorization: `Bearer ${token}`, "Content-Type": contentType };
}

test("the lean route checks the token: none, a bad one, another channel's; the body cannot name the user", async () => {
	const channel = randomUUID();
	const calls = await countIngestCalls(async () => {
		const missing = await post({ path: messagesPath(channel), headers: { "Content-Type": "text/plain" }, body: "x" });
		expect(missing.status).toBe(401);
		expect(missing.json).toMatchObject({ type: "UNAUTHORIZED", data: { reason: "missing" } });
		expect(missing.head).toContain('\r\nWWW-Authenticate: Bearer realm="chatcast"\r\n');
		const bad = await post({ path: messagesPath(channel), headers: bearer("not.a.token", "text/plain"), body: "x" });
		expect(bad.status).toBe(401);
		expect(bad.head).toContain('\r\nWWW-Authenticate: Bearer realm="chatcast", error="invalid_token"\r\n');
		const elsewhere = await post({
			path: messagesPath(channel),
			headers: bearer(await tokenFor({ channels: [randomUUID()] }), "text/plain"),
			body: "x",
		});
		expect(elsewhere.json).toMatchObject({ code: 403, type: "FORBIDDEN" });
		const ok = await post({
			path: messagesPath(channel),
			headers: bearer(await tokenFor({ sub: "carol", name: "Carol" }), "application/json"),
			body: JSON.stringify({ text: "hi", author: "mallory", userId: "mallory" }),
		});
		expect(ok.status).toBe(201);
		expect(ok.json).toMatchObject({ author: "Carol", userId: "carol", text: "hi" });
	});
	expect(calls).toBe(0);
	expect(await storedTexts(channel)).toEqual(["hi"]);
});

test("the lean route counts the publish rate limit per user: the burst, then 429 with Retry-After", async () => {
	const channel = randomUUID();
	const headers = bearer(await tokenFor(), "text/plain");
	const answers: RawAnswer[] = [];
	const calls = await countIngestCalls(async () => {
		for (let i = 0; i <= BURST; i++) answers.push(await post({ path: messagesPath(channel), headers, body: `m${i}` }));
	});
	expect(calls).toBe(0);
	expect(answers.map(a => a.status)).toEqual([...Array(BURST).fill(201), 429]);
	expect(answers[BURST].json).toMatchObject({ type: "RATE_LIMITED", data: { action: "publish" } });
	expect(answers[BURST].head).toMatch(/\r\nRetry-After: \d+\r\n/);
	// Another user is not held back by this one's bucket.
	const other = await post({ path: messagesPath(channel), headers: bearer(await tokenFor(), "text/plain"), body: "other" });
	expect(other.status).toBe(201);
});

test("the lean route keeps the origin policy: a foreign page is refused, a listed one gets its CORS headers", async () => {
	const channel = randomUUID();
	const headers = bearer(await tokenFor(), "text/plain");
	const calls = await countIngestCalls(async () => {
		const foreign = await post({
			path: messagesPath(channel),
			headers: { ...headers, Origin: "https://evil.example" },
			body: "x",
		});
		expect(foreign.status).toBe(403);
		expect(foreign.json).toMatchObject({ type: "ORIGIN_NOT_ALLOWED" });
		const listed = await post({ path: messagesPath(channel), headers: { ...headers, Origin: ALLOWED_ORIGIN }, body: "y" });
		expect(listed.status).toBe(201);
		expect(listed.head).toContain(`\r\nAccess-Control-Allow-Origin: ${ALLOWED_ORIGIN}\r\n`);
	});
	expect(calls).toBe(0);
	expect(await storedTexts(channel)).toEqual(["y"]);
});

test("a lean publish is logged once, as moleculer-web's path logs it", async () => {
	const channel = randomUUID();
	const requestID = `lean-${randomUUID().slice(0, 8)}`;
	const answer = await fetch(`${node.baseUrl}${messagesPath(channel)}`, {
		method: "POST",
		headers: { ...bearer(await tokenFor(), "text/plain"), "X-Request-ID": requestID },
		body: "logged",
	});
	expect(answer.status).toBe(201);
	const entries = (): Array<Record<string, unknown>> => logEntriesOf(node, requestID);
	await waitFor(() => entries().length > 0);
	expect(entries()).toHaveLength(1);
	expect(entries()[0]).toMatchObject({
		method: "POST",
		route: "/api/channels/:channel/messages",
		path: `/channels/${channel}/messages`,
		status: 201,
	});
});
