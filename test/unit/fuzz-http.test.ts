/**
 * Property-based fuzzing (fast-check) of every route of one in-process node, over real HTTP (loopback):
 *
 *   1. whatever a client sends (method, path, query, headers, body, encoding), the answer is never a 5xx
 *      and every error is a catalogue error; the node keeps answering and nothing rejects unhandled;
 *   2. every accepted publish comes back on the channel's streams exactly once, identical to what was sent;
 *   3. no text or author adds an SSE event, field or id line (and `sseEvent` frames any string as one event).
 *
 * The seed is new each run (fixed under CI) and printed; `FUZZ_SEED=<n> npx jest test/unit/fuzz-http.test.ts`
 * replays that run.
 */
import { randomUUID } from "node:crypto";
import { Agent, type IncomingHttpHeaders, request as httpRequest } from "node:http";
import zlib from "node:zlib";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import fc from "fast-check";
import { ERROR_CATALOGUE } from "../../src/errors";
import { type ChatMessage, toLegacyMessage } from "../../src/message";
import { sseEvent } from "../../src/sse-frame";
import { type InProcessNode, readStream, type StreamReader, startInProcess } from "../support/in-process";

const MAX_MESSAGE_BYTES = 512;
const BODY_LIMIT = 2 * MAX_MESSAGE_BYTES + 1024;
const ALLOWED_ORIGIN = "https://app.example.com";
/**
 * CI runs one fixed seed, so a submission's result can be reproduced and does not depend on luck; every
 * other run explores a new one (and prints it). FUZZ_SEED overrides both.
 */
const CI_SEED = 20261202;
const SEED = Number(process.env.FUZZ_SEED ?? (process.env.CI ? CI_SEED : Math.floor(Math.random() * 2 ** 31)));
/** Property 1 runs in this many lanes at once (each its own fc.assert), over a keep-alive agent with as many sockets. */
const LANES = 4;
const RUNS_PER_LANE = 3_000;

let node: InProcessNode;
let requestsSent = 0;
const agent = new Agent({ keepAlive: true, maxSockets: LANES });
const unhandled: unknown[] = [];
const recordUnhandled = (reason: unknown): void => {
	unhandled.push(reason);
};
const streams: StreamReader[] = [];

beforeAll(async () => {
	process.on("unhandledRejection", recordUnhandled);
	node = await startInProcess({
		maxMessageBytes: MAX_MESSAGE_BYTES,
		corsOrigins: [ALLOWED_ORIGIN],
		// Thousands of streams open and close here, all from 127.0.0.1: the per-client bounds would refuse most.
		streamLimits: { perEdge: 10_000, perClient: 1_000, channelsPerClient: 1_000 },
		sseHeartbeatMs: 60_000,
	});
});

afterEach(() => {
	for (const stream of streams.splice(0)) stream.close();
});

afterAll(async () => {
	agent.destroy();
	await node.stop();
	process.off("unhandledRejection", recordUnhandled);
	// Printed so a run shows its size and seed even when it passes.
	console.log(`fuzz-http: ${requestsSent} HTTP requests, seed ${SEED}`);
});

/** Runs a property with a seed; a failure says how to replay the run. */
async function check<T>(property: fc.IAsyncProperty<T> | fc.IProperty<T>, numRuns: number, seed = SEED): Promise<void> {
	try {
		await fc.assert(property, { seed, numRuns });
	} catch (err) {
		console.error(`fuzz-http failed with seed ${seed}: replay with FUZZ_SEED=${SEED}`);
		throw err;
	}
}

// ---------------------------------------------------------------------------------------------------------
// A raw HTTP client: the path is sent as given (no URL normalisation), headers may repeat.

interface RawRequest {
	method: string;
	path: string;
	headers: Record<string, string | string[]>;
	body?: Buffer;
	/** Sent in two chunks without Content-Length (Transfer-Encoding: chunked). */
	chunked: boolean;
}

interface RawAnswer {
	status: number;
	headers: IncomingHttpHeaders;
	body: string;
	/** A 200 event stream, dropped as soon as its headers were in. */
	stream: boolean;
}

/** Sends one request over the keep-alive agent and reads the whole answer (or only the head of a stream). */
function send(req: RawRequest): Promise<RawAnswer> {
	requestsSent++;
	const { port } = new URL(node.baseUrl);
	return new Promise((resolve, reject) => {
		// Framed explicitly: for GET, HEAD, DELETE and OPTIONS Node would send a body unframed, as garbage after the request.
		const { body, chunked } = req;
		let headers = req.headers;
		if (body !== undefined)
			headers = { ...headers, ...(chunked ? { "Transfer-Encoding": "chunked" } : { "Content-Length": String(body.length) }) };
		const options = { host: "127.0.0.1", port, method: req.method, path: req.path, headers, agent };
		const outgoing = httpRequest(options, res => {
			const status = res.statusCode ?? 0;
			if (status === 200 && String(res.headers["content-type"]).startsWith("text/event-stream")) {
				outgoing.destroy();
				resolve({ status, headers: res.headers, body: "", stream: true });
				return;
			}
			const chunks: Buffer[] = [];
			res.on("data", (chunk: Buffer) => chunks.push(chunk));
			res.on("end", () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), stream: false }));
			res.on("error", reject);
		});
		// A hung request is a failure too (not a timing assertion: nothing here takes more than milliseconds).
		outgoing.setTimeout(10_000, () => outgoing.destroy(new Error(`no answer to ${req.method} ${req.path.slice(0, 200)}`)));
		outgoing.on("error", reject);
		if (body !== undefined && chunked) {
			const half = Math.floor(body.length / 2);
			outgoing.write(body.subarray(0, half));
			outgoing.end(body.subarray(half));
		} else {
			outgoing.end(body);
		}
	});
}

/** Percent-encodes every byte of the UTF-8 form but the unreserved characters (lone surrogates become U+FFFD). */
function percentEncode(text: string): string {
	let out = "";
	for (const byte of Buffer.from(text, "utf8")) {
		const char = String.fromCharCode(byte);
		out += /[A-Za-z0-9\-_.~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
	}
	return out;
}

// ---------------------------------------------------------------------------------------------------------
// Property 1: anything a client sends.

/** Characters a request path or header value may carry as they are. */
const PATH_CHARS = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i));
const rawAscii = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...PATH_CHARS), maxLength });
/** What Node lets through in a header value: printable ASCII and Latin-1. */
const headerJunk = fc.string({
	unit: fc
		.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
		.map(code => String.fromCharCode(code)),
	maxLength: 40,
});

/** Every kind of odd character a text may hold: controls, lone surrogates, bidi and zero-width, emoji. */
const oddChar = fc.constantFrom(
	"\u0000",
	"\u0007",
	"\u001b",
	"\u007f",
	"\u0085",
	"\n",
	"\r",
	"\r\n",
	"\t",
	" ",
	"\u00a0",
	"\u200b",
	"\u200d",
	"\u202e",
	"\u2028",
	"\ufeff",
	"\ud800",
	"\udfff",
	"\ud83d",
	"😀",
	"👩‍💻",
	"é",
	"日",
	"a",
	"%",
	'"',
	"\\",
);
const anyText = fc.oneof(
	fc.string({ unit: "binary", maxLength: 40 }),
	fc.string({ unit: "grapheme", maxLength: 40 }),
	fc.string({ unit: oddChar, maxLength: 20 }),
	fc.constantFrom("", " ", "\n", "anonymous", "hello"),
	fc.string({ unit: "grapheme-ascii", minLength: MAX_MESSAGE_BYTES - 4, maxLength: MAX_MESSAGE_BYTES + 40 }),
);
const anyJson = fc.oneof(
	{ weight: 4, arbitrary: anyText },
	fc.integer(),
	fc.double(),
	fc.boolean(),
	fc.constant(null),
	fc.array(fc.string(), { maxLength: 3 }),
	fc.object({ maxDepth: 1, maxKeys: 3 }),
);

const uuidLike = fc.oneof(
	fc.uuid(),
	fc.uuid().map(uuid => uuid.toUpperCase()),
	fc.tuple(fc.uuid(), fc.nat({ max: 35 })).map(([uuid, length]) => uuid.slice(0, length)),
	fc.tuple(fc.uuid(), rawAscii(6)).map(([uuid, junk]) => uuid + junk),
	fc.uuid().map(uuid => uuid.replaceAll("-", "")),
	fc.uuid().map(uuid => `{${uuid}}`),
	fc.constantFrom("00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
);

const segment = fc.oneof(
	{ weight: 4, arbitrary: uuidLike },
	fc.constantFrom("..", ".", "", "%", "%zz", "%C0%AF", "%00", "%2e%2e", "%2F", "%ff", "%E2%82", "~", "%0A", "%0D%0A"),
	fc.constantFrom("messages", "events", "health", "limits", "ready", "channels", "index.html", "app.js", "publish", "receive"),
	fc.string({ unit: oddChar, maxLength: 8 }).map(percentEncode),
	fc.string({ unit: "binary", maxLength: 12 }).map(percentEncode),
	rawAscii(12),
	fc.integer({ min: 1_000, max: 8_000 }).map(length => "x".repeat(length)),
);

const routePath = fc.oneof(
	{ weight: 5, arbitrary: uuidLike.map(c => `/api/channels/${c}/messages`) },
	{ weight: 3, arbitrary: uuidLike.map(c => `/api/channels/${c}/events`) },
	{ weight: 2, arbitrary: uuidLike.map(c => `/api/channels/${c}`) },
	{ weight: 4, arbitrary: fc.tuple(uuidLike, segment).map(([c, user]) => `/chat/publish/${c}/${user}`) },
	{ weight: 2, arbitrary: uuidLike.map(c => `/chat/receive/${c}`) },
	fc.constantFrom("/api/health", "/api/limits", "/api/ready", "/", "/index.html", "/api", "/chat", "/api/", "//api/health"),
	fc
		.tuple(fc.constantFrom("/api/channels/", "/chat/publish/", "/chat/receive/", "/api/", "/chat/", "/"), segment, segment)
		.map(([prefix, a, b]) => `${prefix}${a}/${b}`),
	{ weight: 2, arbitrary: fc.array(segment, { maxLength: 5 }).map(segments => `/${segments.join("/")}`) },
);

const queryValue = fc.oneof(
	fc.integer().map(String),
	fc.constantFrom("-1", "0", "1", "500", "501", "1e3", "1.5", "99999999999999999999", "1e309", "NaN", "Infinity", "0x10", "%20"),
	fc.constantFrom("", "%zz", "[]", "1,2", "true", "null", "%00", "1%00"),
	rawAscii(10).map(text => text.replaceAll("#", "")),
);
const query = fc.option(
	fc
		.array(
			fc.tuple(
				fc.constantFrom(
					"after",
					"limit",
					"lastEventId",
					"channel",
					"text",
					"author",
					"clientMsgId",
					"after[]",
					"__proto__",
					"constructor",
				),
				queryValue,
			),
			{ minLength: 1, maxLength: 4 },
		)
		.map(pairs => `?${pairs.map(([key, value]) => `${key}=${value}`).join("&")}`),
	{ nil: "" },
);

type BodySpec =
	| { kind: "json"; value: unknown }
	| { kind: "text"; text: string }
	| { kind: "bytes"; bytes: Uint8Array }
	| { kind: "huge"; bytes: number; json: boolean };

const publishFields = fc.record(
	{ text: anyJson, author: anyJson, clientMsgId: anyJson, channel: anyJson, seq: anyJson },
	{ requiredKeys: [] },
);
const bodySpec: fc.Arbitrary<BodySpec | undefined> = fc.option(
	fc.oneof(
		{ weight: 5, arbitrary: publishFields.map(value => ({ kind: "json" as const, value })) },
		fc.jsonValue({ maxDepth: 2 }).map(value => ({ kind: "json" as const, value })),
		{ weight: 3, arbitrary: anyText.map(text => ({ kind: "text" as const, text })) },
		fc
			.constantFrom("{", '{"text":', '{"text":"a"', "[1,", "nul", '{"text":"\\ud800"}', '{"text":"\\u0000"}', "\ufeff{}")
			.map(text => ({
				kind: "text" as const,
				text,
			})),
		fc.uint8Array({ maxLength: 64 }).map(bytes => ({ kind: "bytes" as const, bytes })),
		fc
			.record({ bytes: fc.integer({ min: BODY_LIMIT - 8, max: 4 * BODY_LIMIT }), json: fc.boolean() })
			.map(huge => ({ kind: "huge" as const, ...huge })),
	),
	{ nil: undefined },
);

function bodyBytes(spec: BodySpec): Buffer {
	switch (spec.kind) {
		case "json":
			return Buffer.from(JSON.stringify(spec.value) ?? "", "utf8");
		case "text":
			return Buffer.from(spec.text, "utf8");
		case "bytes":
			return Buffer.from(spec.bytes);
		case "huge":
			return Buffer.from(spec.json ? `{"text":"${"h".repeat(spec.bytes)}"}` : "h".repeat(spec.bytes), "utf8");
	}
}

type Compression = "gzip" | "deflate" | "br" | "zstd";
const COMPRESS: Record<Compression, (bytes: Buffer) => Buffer> = {
	gzip: bytes => zlib.gzipSync(bytes),
	deflate: bytes => zlib.deflateSync(bytes),
	br: bytes => zlib.brotliCompressSync(bytes),
	zstd: bytes => zlib.zstdCompressSync(bytes),
};
const compression = fc.constantFrom<Compression>("gzip", "deflate", "br", "zstd");

/** The Content-Encoding header and what is done to the body: compressed as it says, cut short, or not at all. */
interface EncodingSpec {
	header?: string;
	body: "plain" | "compressed" | "truncated";
	with?: Compression;
}
const encodingSpec: fc.Arbitrary<EncodingSpec> = fc.oneof(
	{ weight: 4, arbitrary: fc.constant<EncodingSpec>({ body: "plain" }) },
	compression.map(name => ({ header: name, body: "compressed" as const, with: name })),
	compression.map(name => ({ header: name, body: "truncated" as const, with: name })),
	fc
		.constantFrom(
			"gzip",
			"deflate",
			"br",
			"zstd",
			"identity",
			"compress",
			"x-gzip",
			"GZIP",
			"gzip, deflate",
			"*",
			"",
			"gzip, gzip",
		)
		.map(header => ({ header, body: "plain" as const })),
	headerJunk.map(header => ({ header, body: "plain" as const })),
);

const contentType = fc.option(
	fc.oneof(
		{
			weight: 4,
			arbitrary: fc.constantFrom<string | string[]>(
				"application/json",
				"application/json; charset=utf-8",
				"application/json; charset=UTF-8",
				'application/json; charset="utf-8"',
				"application/json;charset=latin1",
				"application/json; charset=utf-16",
				"application/json; charset=bogus",
				"text/plain",
				"text/plain; charset=utf-8",
				"text/plain; charset=iso-8859-1",
				"text/plain; charset=utf-16le",
				"text/plain; charset=nope",
				"TEXT/PLAIN",
			),
		},
		fc.constantFrom(
			"application/x-www-form-urlencoded",
			"multipart/form-data; boundary=x",
			"application/octet-stream",
			"application/merge-patch+json",
			"text/html",
			"*/*",
			"",
			";",
			"json",
		),
		fc.array(fc.constantFrom("application/json", "text/plain", "text/html"), { minLength: 2, maxLength: 2 }),
		headerJunk,
	),
	{ nil: undefined },
);

/** A header sent now and then (`1 / (absent + 1)` of the requests): most requests should reach the code behind the checks. */
const optionalHeader = (value: fc.Arbitrary<string | string[]>, absent = 3): fc.Arbitrary<string | string[] | undefined> =>
	fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: value });

interface RequestSpec {
	method: string;
	path: string;
	contentType?: string | string[];
	encoding: EncodingSpec;
	body?: BodySpec;
	chunked: boolean;
	headers: Record<string, string | string[] | undefined>;
}

function requestSpec(selfOrigin: string): fc.Arbitrary<RequestSpec> {
	return fc.record({
		method: fc.oneof(
			{ weight: 4, arbitrary: fc.constant("POST") },
			{ weight: 3, arbitrary: fc.constant("GET") },
			fc.constantFrom("PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
		),
		// Under Node's 16 KiB header limit: beyond it Node itself answers 431, before any of Chatcast's code runs.
		path: fc
			.tuple(routePath, query)
			.map(([path, search]) => path + search)
			.filter(path => path.length <= 12_000),
		contentType,
		encoding: encodingSpec,
		body: bodySpec,
		chunked: fc.boolean(),
		headers: fc.record({
			"Idempotency-Key": optionalHeader(
				fc.oneof(
					rawAscii(20),
					headerJunk,
					fc.constantFrom("", " ", "k".repeat(129), "a b"),
					fc.array(rawAscii(5), { minLength: 2, maxLength: 2 }),
				),
			),
			"Last-Event-ID": optionalHeader(fc.oneof(queryValue, headerJunk, fc.array(queryValue, { minLength: 2, maxLength: 2 }))),
			"X-Request-ID": optionalHeader(fc.oneof(rawAscii(20), headerJunk, fc.constant("r".repeat(200)))),
			// A foreign origin is refused (403) before anything else is looked at: rarely one.
			Origin: optionalHeader(
				fc.oneof(
					{ weight: 4, arbitrary: fc.constantFrom(ALLOWED_ORIGIN, selfOrigin) },
					fc.constantFrom("null", "https://evil.example", "http://127.0.0.1"),
					headerJunk,
				),
				8,
			),
			Accept: optionalHeader(fc.oneof(fc.constantFrom("text/event-stream", "application/json", "*/*"), headerJunk)),
			"X-Forwarded-For": optionalHeader(fc.oneof(fc.ipV4(), fc.ipV6(), headerJunk)),
		}),
	});
}

function toRawRequest(spec: RequestSpec): RawRequest {
	const headers: Record<string, string | string[]> = {};
	for (const [name, value] of Object.entries(spec.headers)) if (value !== undefined) headers[name] = value;
	if (spec.contentType !== undefined) headers["Content-Type"] = spec.contentType;
	if (spec.encoding.header !== undefined) headers["Content-Encoding"] = spec.encoding.header;
	let body = spec.body === undefined ? undefined : bodyBytes(spec.body);
	if (body !== undefined && spec.encoding.with !== undefined && spec.encoding.body !== "plain") {
		const compressed = COMPRESS[spec.encoding.with](body);
		body = spec.encoding.body === "truncated" ? compressed.subarray(0, Math.floor(compressed.length / 2)) : compressed;
	}
	return { method: spec.method, path: spec.path, headers, body, chunked: spec.chunked };
}

const ERROR_KEYS = ["name", "message", "code", "type", "data"];

/** The contract every answer keeps: no 5xx, and every error a catalogue error whose code is its status. */
function expectContractKept(spec: RequestSpec, answer: RawAnswer): void {
	const where = `${spec.method} ${spec.path.slice(0, 300)} → ${answer.status} ${answer.body.slice(0, 300)}`;
	if (answer.status < 300 || (answer.status < 400 && spec.method !== "OPTIONS")) return;
	const contentType = String(answer.headers["content-type"] ?? "");
	if (!contentType.startsWith("application/json")) throw new Error(`an error answer that is not JSON: ${where}`);
	if (spec.method === "HEAD") {
		if (answer.status >= 500) throw new Error(`a 5xx: ${where}`);
		return;
	}
	const body: unknown = JSON.parse(answer.body);
	if (typeof body !== "object" || body === null) throw new Error(`an error body that is not an object: ${where}`);
	const fields = body as Record<string, unknown>;
	const type = fields.type;
	if (typeof type !== "string" || !Object.hasOwn(ERROR_CATALOGUE, type))
		throw new Error(`a type outside the catalogue: ${where}`);
	const entry = ERROR_CATALOGUE[type as keyof typeof ERROR_CATALOGUE];
	if (fields.code !== answer.status || entry.status !== answer.status) throw new Error(`code or type not the status: ${where}`);
	if (typeof fields.name !== "string" || typeof fields.message !== "string") throw new Error(`no name or message: ${where}`);
	if (!Object.keys(fields).every(key => ERROR_KEYS.includes(key))) throw new Error(`an error body with other keys: ${where}`);
	// Readiness needs a transporter, which the in-process node does not have: its 503 is the design.
	if (answer.status >= 500 && type !== "NOT_READY") throw new Error(`a 5xx: ${where}`);
}

describe("property 1: whatever a client sends, no 5xx and only catalogue errors", () => {
	test(`${LANES} × ${RUNS_PER_LANE} random requests over every route`, async () => {
		const property = fc.asyncProperty(requestSpec(node.baseUrl), async spec => {
			expectContractKept(spec, await send(toRawRequest(spec)));
		});
		const lanes = await Promise.allSettled(
			Array.from({ length: LANES }, (_, lane) => check(property, RUNS_PER_LANE, SEED + lane)),
		);
		for (const lane of lanes) if (lane.status === "rejected") throw lane.reason;
	}, 180_000);
});

// ---------------------------------------------------------------------------------------------------------
// Properties 2 and 3: what is accepted comes back, once, and framed as one event.

type Route = "json" | "text" | "legacy";

interface Publish {
	route: Route;
	text: string;
	/** JSON: the body's author (undefined: none); legacy: the path's; text/plain: none. */
	author?: string;
	clientMsgId?: string;
	/** Send clientMsgId as the Idempotency-Key header rather than in the JSON body. */
	asHeader: boolean;
	/** The Content-Type of a legacy publish (its body is the text whatever it says). */
	legacyType?: string;
}

interface Published {
	sent: Publish;
	status: number;
	body: unknown;
}

function publishRequest(channel: string, p: Publish): RawRequest {
	const headers: Record<string, string> = {};
	if (p.clientMsgId !== undefined && (p.asHeader || p.route !== "json")) headers["Idempotency-Key"] = p.clientMsgId;
	if (p.route === "json") {
		headers["Content-Type"] = "application/json";
		const fields = { text: p.text, author: p.author, clientMsgId: p.asHeader ? undefined : p.clientMsgId };
		return {
			method: "POST",
			path: `/api/channels/${channel}/messages`,
			headers,
			body: Buffer.from(JSON.stringify(fields)),
			chunked: false,
		};
	}
	if (p.route === "text") headers["Content-Type"] = "text/plain; charset=utf-8";
	else if (p.legacyType !== undefined) headers["Content-Type"] = p.legacyType;
	const path =
		p.route === "text"
			? `/api/channels/${channel}/messages`
			: `/chat/publish/${channel}/${percentEncode(p.author ?? "anonymous")}`;
	return { method: "POST", path, headers, body: Buffer.from(p.text, "utf8"), chunked: false };
}

/** Publishes in small concurrent batches, keeping the order of the answers. */
async function publishAll(channel: string, publishes: Publish[]): Promise<Published[]> {
	const answers: Published[] = [];
	for (let i = 0; i < publishes.length; i += LANES) {
		const batch = publishes.slice(i, i + LANES);
		const results = await Promise.all(batch.map(p => send(publishRequest(channel, p))));
		results.forEach((answer, j) => {
			answers.push({ sent: batch[j], status: answer.status, body: answer.body ? JSON.parse(answer.body) : undefined });
		});
	}
	return answers;
}

/** Opens the channel's two streams (the channel written as the test likes), live from now. */
async function openStreams(channelInPath: string): Promise<{ chatcast: StreamReader; legacy: StreamReader }> {
	const chatcast = await readStream(`${node.baseUrl}/api/channels/${channelInPath}/events`);
	const legacy = await readStream(`${node.baseUrl}/chat/receive/${channelInPath}`);
	streams.push(chatcast, legacy);
	requestsSent += 2;
	expect([chatcast.status, legacy.status]).toEqual([200, 200]);
	return { chatcast, legacy };
}

/**
 * A last publish, waited for on both streams: the streams deliver in seq order, so once it is there
 * every earlier message is in (and a repeat of one would have come before it). No waiting on time.
 */
async function fence(channel: string, on: { chatcast: StreamReader; legacy: StreamReader }): Promise<ChatMessage> {
	const [answer] = await publishAll(channel, [{ route: "json", text: "fence", asHeader: false }]);
	const fenceMessage = answer.body as ChatMessage;
	const id = `${fenceMessage.epoch}.${fenceMessage.seq}`;
	await on.chatcast.waitFor(events => events.some(e => e.event === "message" && e.id === id), 10_000);
	await on.legacy.waitFor(events => events.some(e => e.id === id), 10_000);
	return fenceMessage;
}

const messageEvents = (events: EventSourceMessage[]): EventSourceMessage[] => events.filter(e => e.event === "message");

/**
 * Each accepted message exactly once on each stream, with `<epoch>.<seq>` as the event id and data equal to the
 * publish answer (chatcast) or its legacy shape; nothing else.
 */
function expectEachOnce(
	accepted: ChatMessage[],
	fenceMessage: ChatMessage,
	on: { chatcast: StreamReader; legacy: StreamReader },
): void {
	const all = [...accepted, fenceMessage];
	const chatcast = messageEvents(on.chatcast.events);
	const idOf = (m: ChatMessage): string => `${m.epoch}.${m.seq}`;
	expect(chatcast.map(e => e.id)).toEqual([...all].sort((a, b) => a.seq - b.seq).map(idOf));
	const byId = new Map(chatcast.map(e => [e.id, JSON.parse(e.data) as unknown]));
	for (const message of all) expect(byId.get(idOf(message))).toEqual(message);

	const legacy = on.legacy.events.filter(e => e.event === undefined);
	expect(legacy.map(e => e.id)).toEqual(chatcast.map(e => e.id));
	const legacyById = new Map(legacy.map(e => [e.id, JSON.parse(e.data) as unknown]));
	for (const message of all) expect(legacyById.get(idOf(message))).toEqual(toLegacyMessage(message));
}

/**
 * What the store keeps of a text a publish sent: a text body (text/plain, legacy) is decoded as UTF-8, and
 * decoding takes a leading U+FEFF for a byte-order mark, not text (WHATWG Encoding; body-parser does the same).
 */
const storedText = (p: Publish): string => (p.route === "json" ? p.text : p.text.replace(/^\ufeff/, ""));

/** What the store keeps of an author a publish sent. */
const storedAuthor = (p: Publish): string => (p.route === "text" || !p.author ? "anonymous" : p.author.trim());

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what a valid text may not hold
const TEXT_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
/** One visible character a valid text or author starts or ends with. */
const visible = fc.constantFrom("a", "Z", "0", "!", "~", "é", "ß", "Ж", "日", "😀", "👍🏽", "€");
const validText = fc
	.tuple(
		fc.string({
			unit: fc.oneof(
				{ weight: 6, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
				fc.constantFrom("\n", "\t", " ", "\u00a0", "\u2028", "\u200b", "\u202e", "\ufeff", "\u0301", '"', "\\", "</script>"),
			),
			maxLength: 60,
		}),
		visible,
		fc.boolean(),
	)
	.map(([rest, anchor, anchorFirst]) => (anchorFirst ? anchor + rest : rest + anchor))
	.filter(text => !TEXT_CONTROLS.test(text) && text.isWellFormed() && Buffer.byteLength(text) <= MAX_MESSAGE_BYTES);
const validAuthor = fc
	.tuple(visible, fc.string({ unit: fc.oneof(fc.constantFrom(...PATH_CHARS), visible, fc.constant(" ")), maxLength: 30 }))
	.map(([anchor, rest]) => anchor + rest);
const validClientMsgId = rawAscii(100).filter(id => id.length > 0);

const validPublish: fc.Arbitrary<Publish> = fc.record({
	route: fc.constantFrom<Route>("json", "text", "legacy"),
	text: validText,
	author: fc.option(validAuthor, { nil: undefined }),
	clientMsgId: fc.option(validClientMsgId, { nil: undefined }),
	asHeader: fc.boolean(),
	legacyType: fc.option(
		fc.constantFrom("text/plain", "application/json", "application/octet-stream", "text/plain; charset=utf-8"),
		{
			nil: undefined,
		},
	),
});

/** Makes the clientMsgIds of one run distinct, so every publish is a new message (a repeat answers 200). */
function distinctIds(publishes: Publish[]): Publish[] {
	return publishes.map((p, i) => (p.clientMsgId === undefined ? p : { ...p, clientMsgId: `${i}~${p.clientMsgId}` }));
}

describe("property 2: every accepted publish comes back once, identical", () => {
	test("random valid texts, authors and ids over JSON, text/plain and the legacy route", async () => {
		const property = fc.asyncProperty(
			fc.array(validPublish, { minLength: 1, maxLength: 12 }),
			fc.boolean(),
			async (generated, upper) => {
				const channel = randomUUID();
				const publishes = distinctIds(generated);
				const on = await openStreams(upper ? channel.toUpperCase() : channel);
				const answers = await publishAll(upper ? channel : channel.toUpperCase(), publishes);

				for (const { sent, status, body } of answers) {
					expect({ status, sent }).toEqual({ status: 201, sent });
					const expected: Record<string, unknown> = { channel, text: storedText(sent), author: storedAuthor(sent) };
					if (sent.clientMsgId !== undefined) expected.clientMsgId = sent.clientMsgId;
					expect(body).toEqual({
						...expected,
						id: expect.any(String),
						seq: expect.any(Number),
						epoch: expect.any(String),
						sentAt: expect.any(String),
					});
				}
				expectEachOnce(
					answers.map(a => a.body as ChatMessage),
					await fence(channel, on),
					on,
				);
				for (const stream of streams.splice(0)) stream.close();
			},
		);
		await check(property, 120);
	}, 120_000);
});

/** Pieces that look like SSE syntax, and the line breaks that would start a new line. */
const sseLike = fc.constantFrom(
	"data:",
	"data: x",
	"id:",
	"id: 99",
	"event:",
	"event: reset",
	"retry:",
	"retry: 1",
	":",
	": comment",
	"\n",
	"\n\n",
	"\r",
	"\r\n",
	" ",
	"\u2028",
	"\u0085",
	'{"seq":1}',
	"x",
);
const adversarial = fc
	.tuple(fc.array(sseLike, { maxLength: 12 }), visible, fc.array(sseLike, { maxLength: 12 }))
	.map(([before, anchor, after]) => [...before, anchor, ...after].join(""));
const adversarialAuthor = fc
	.tuple(fc.array(sseLike, { maxLength: 4 }), visible, fc.array(sseLike, { maxLength: 4 }))
	.map(([before, anchor, after]) => [...before, anchor, ...after].join(""));

/** What the server must answer an adversarial publish, by the README's rules. */
function expectedType(p: Publish): "INVALID_TEXT" | "INVALID_AUTHOR" | undefined {
	if (/[\r\u0085]/.test(p.text)) return "INVALID_TEXT";
	const author = p.route === "text" || !p.author ? "anonymous" : p.author.trim();
	return /[\n\r\u0085\u2028]/.test(author) ? "INVALID_AUTHOR" : undefined;
}

/** The frames of a stream's raw text: blocks of lines ended by an empty line. */
function frames(raw: string): string[][] {
	expect(raw).not.toMatch(/\r/);
	expect(raw.endsWith("\n\n")).toBe(true);
	return raw
		.slice(0, -2)
		.split("\n\n")
		.map(frame => frame.split("\n"));
}

/** Every line is a known field or a comment; a message frame has exactly one id line (`<epoch>.<seq>`) and, on chatcast, one event line. */
function expectFraming(raw: string, seqs: number[], format: "chatcast" | "legacy"): void {
	const all = frames(raw);
	for (const lines of all) for (const line of lines) expect(line).toMatch(/^(id: |event: |data: |retry: |:)/);
	const withId = all.filter(lines => lines.some(line => line.startsWith("id:")));
	const ids = withId.map(lines => lines.filter(line => line.startsWith("id:")));
	expect(ids).toEqual(seqs.map(seq => [expect.stringMatching(new RegExp(`^id: [\\w-]{12}\\.${seq}$`))]));
	const events = withId.map(lines => lines.filter(line => line.startsWith("event:")));
	expect(events).toEqual(seqs.map(() => (format === "chatcast" ? ["event: message"] : [])));
}

describe("property 3: no text, author or id adds an SSE event, field or id line", () => {
	test("adversarial texts and authors over every publish route", async () => {
		const publish = fc.record({
			route: fc.constantFrom<Route>("json", "text", "legacy"),
			text: adversarial,
			author: fc.option(adversarialAuthor, { nil: undefined }),
			clientMsgId: fc.option(validClientMsgId, { nil: undefined }),
			asHeader: fc.boolean(),
		});
		const property = fc.asyncProperty(fc.array(publish, { minLength: 1, maxLength: 10 }), async generated => {
			const channel = randomUUID();
			const publishes = distinctIds(generated);
			const on = await openStreams(channel);
			const answers = await publishAll(channel, publishes);

			const accepted: ChatMessage[] = [];
			for (const { sent, status, body } of answers) {
				const type = expectedType(sent);
				if (type === undefined) {
					expect({ status, text: (body as ChatMessage).text }).toEqual({ status: 201, text: sent.text });
					accepted.push(body as ChatMessage);
				} else {
					expect({ status, type: (body as { type?: string }).type }).toEqual({ status: 400, type });
				}
			}
			const fenceMessage = await fence(channel, on);
			expectEachOnce(accepted, fenceMessage, on);
			const seqs = [...accepted, fenceMessage].map(m => m.seq).sort((a, b) => a - b);
			expectFraming(on.chatcast.raw, seqs, "chatcast");
			expectFraming(on.legacy.raw, seqs, "legacy");
			for (const stream of streams.splice(0)) stream.close();
		});
		await check(property, 120);
	}, 120_000);

	test("sseEvent frames any data as exactly one event with that data (line breaks as \\n)", () => {
		const anyString = fc.string({
			unit: fc.oneof(
				fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
				oddChar,
				sseLike,
				fc.constantFrom("\0", "\r\r", "\n\r"),
			),
			maxLength: 40,
		});
		const property = fc.property(
			anyString,
			fc.option(fc.oneof(fc.nat().map(String), anyString), { nil: undefined }),
			fc.option(anyString, { nil: undefined }),
			(data, id, event) => {
				const badId = id !== undefined && /[\r\n\0]/.test(id);
				const badEvent = event !== undefined && /[\r\n]/.test(event);
				if (badId || badEvent) {
					expect(() => sseEvent({ id, event, data })).toThrow(TypeError);
					return;
				}
				const parsed: EventSourceMessage[] = [];
				const parser = createParser({ onEvent: e => parsed.push(e), onRetry: () => parsed.push({ event: "retry!", data: "" }) });
				parser.feed(sseEvent({ id, event, data }));
				expect(parsed).toEqual([{ id, event: event || undefined, data: data.replace(/\r\n|\r/g, "\n") }]);
			},
		);
		return check(property, 5_000);
	});
});

describe("afterwards", () => {
	test("the node still answers, and nothing rejected unhandled", async () => {
		const health = await send({ method: "GET", path: "/api/health", headers: {}, chunked: false });
		expect({ status: health.status, body: JSON.parse(health.body) }).toEqual({
			status: 200,
			body: expect.objectContaining({ status: "ok" }),
		});
		expect(unhandled).toEqual([]);
	});
});
