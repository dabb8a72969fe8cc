/**
 * The closed error mapping: whatever is thrown, a client gets a catalogue type with its status and
 * nothing internal (node ids, action names, driver text).
 */
import { type IncomingMessage, request, Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { brotliDecompressSync, deflateSync, gunzipSync, gzipSync, inflateSync, zstdDecompressSync } from "node:zlib";
import { Errors, ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";
import { chatError, clientMsgIdMismatch, ERROR_CATALOGUE, type ErrorType, publishFailure, toErrorBody } from "../../src/errors";

const NODE_ID = "node-7f3a9c";
const ACTION = "history.append";
const WHERE = { action: ACTION, nodeID: NODE_ID };

/** Nothing that names a node or an action, nor the nodeID key, is in the JSON a client gets. */
function expectNoInternals(body: object): void {
	const json = JSON.stringify(body);
	expect(json).not.toContain(NODE_ID);
	expect(json).not.toContain(ACTION);
	expect(json).not.toContain("nodeID");
}

/** As another node's error arrives: serialized by its transit, rebuilt by ours. */
function overTransporter(err: Error): Error {
	const regenerator = new Errors.Regenerator();
	regenerator.init(new ServiceBroker({ logger: false, nodeID: NODE_ID }));
	return regenerator.restore(regenerator.extractPlainError(err), { sender: NODE_ID });
}

describe("Chatcast's own errors", () => {
	test("every catalogue entry has its status, a message and its type", () => {
		for (const [type, entry] of Object.entries(ERROR_CATALOGUE)) {
			const body = toErrorBody(chatError(type as ErrorType));
			expect(body).toEqual({
				name: entry.status < 500 ? "MoleculerClientError" : "MoleculerError",
				message: entry.message,
				code: entry.status,
				type,
			});
		}
	});

	test("the entry's data keys travel with the error, no other key does", () => {
		const body = toErrorBody(chatError("INVALID_CHANNEL", { channel: "x", stack: "at secret.js:1" }));
		expect(body.data).toEqual({ channel: "x" });
		expect(toErrorBody(chatError("MESSAGE_TOO_LARGE", { bytes: 5000, maxBytes: 4096 }, "5000 bytes")).data).toEqual({
			bytes: 5000,
			maxBytes: 4096,
		});
	});

	test("STORE_UNAVAILABLE never carries the store's raw reason", () => {
		const err = chatError("STORE_UNAVAILABLE", { reason: "connect ECONNREFUSED 127.0.0.1:6379" });
		expect(toErrorBody(err)).toEqual({
			name: "MoleculerError",
			message: ERROR_CATALOGUE.STORE_UNAVAILABLE.message,
			code: 503,
			type: "STORE_UNAVAILABLE",
		});
	});

	test("data is small and plain: long strings cut, deep or odd values dropped", () => {
		const body = toErrorBody(
			chatError("NOT_READY", { checks: { transporter: "ok", history: { deep: "x" }, when: () => 1, long: "y".repeat(5000) } }),
		);
		const checks = (body.data as { checks: Record<string, string> }).checks;
		expect(Object.keys(checks)).toEqual(["transporter", "long"]);
		expect(checks.long.length).toBeLessThan(400);
	});

	test("a custom message is kept; an empty one gives the catalogue's", () => {
		expect(toErrorBody(chatError("SERVICE_UNAVAILABLE", { service: "broadcast" }, "No streams here.")).message).toBe(
			"No streams here.",
		);
		expect(toErrorBody(new Errors.MoleculerClientError("", 400, "EMPTY_MESSAGE")).message).toBe(
			ERROR_CATALOGUE.EMPTY_MESSAGE.message,
		);
	});

	test("they keep type, status and data across the transporter", () => {
		const remote = overTransporter(chatError("INVALID_LAST_EVENT_ID", { lastEventId: "abc" }));
		expect(toErrorBody(remote)).toMatchObject({ code: 400, type: "INVALID_LAST_EVENT_ID", data: { lastEventId: "abc" } });
		expect(toErrorBody(overTransporter(chatError("STORE_UNAVAILABLE", { reason: "raw" }))).data).toBeUndefined();
	});

	test("a mismatched Idempotency-Key is 400 INVALID_CLIENT_MSG_ID saying they differ", () => {
		expect(toErrorBody(clientMsgIdMismatch())).toMatchObject({
			code: 400,
			type: "INVALID_CLIENT_MSG_ID",
			message: expect.stringContaining("differ"),
		});
	});
});

describe("anything else is a catalogue type too", () => {
	const internal = { name: "MoleculerError", message: "Internal server error.", code: 500, type: "INTERNAL_ERROR" };

	test.each<[string, unknown]>([
		["a TypeError", new TypeError("secret internals")],
		["undefined", undefined],
		["a string", "boom"],
		["an unknown type with a code", new Errors.MoleculerClientError("Conflict on node-7f3a9c", 409, "CONFLICT", WHERE)],
		["a catalogue type with another status", new Errors.MoleculerError("x", 500, "INVALID_CHANNEL", { channel: "x" })],
		["prototype keys as name and type", Object.assign(new Error("x"), { name: "constructor", code: 400, type: "toString" })],
		["a driver error with a string code", Object.assign(new Error("READONLY You can't write"), { code: "READONLY" })],
		[
			"an http error of status 500",
			Object.assign(new Error("stream encoding should not be set"), { status: 500, expose: false }),
		],
	])("%s → 500 INTERNAL_ERROR, no details", (_name, err) => {
		expect(toErrorBody(err)).toEqual(internal);
	});
});

describe("Moleculer's errors", () => {
	// Every error class moleculer exports, and what a client gets for it.
	const expected: Record<string, [Error, ErrorType]> = {
		ServiceNotFoundError: [new Errors.ServiceNotFoundError(WHERE), "SERVICE_UNAVAILABLE"],
		ServiceNotAvailableError: [new Errors.ServiceNotAvailableError(WHERE), "SERVICE_UNAVAILABLE"],
		QueueIsFullError: [new Errors.QueueIsFullError(WHERE), "SERVICE_UNAVAILABLE"],
		RequestSkippedError: [new Errors.RequestSkippedError(WHERE), "SERVICE_UNAVAILABLE"],
		MaxCallLevelError: [new Errors.MaxCallLevelError({ nodeID: NODE_ID, level: 100 }), "SERVICE_UNAVAILABLE"],
		BrokerDisconnectedError: [new Errors.BrokerDisconnectedError("Broker is disconnected!"), "SERVICE_UNAVAILABLE"],
		RequestTimeoutError: [new Errors.RequestTimeoutError(WHERE), "OUTCOME_UNKNOWN"],
		RequestRejectedError: [new Errors.RequestRejectedError(WHERE), "OUTCOME_UNKNOWN"],
		ValidationError: [new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", []), "VALIDATION_ERROR"],
		ExtendableError: [new Errors.ExtendableError(`on ${NODE_ID}`), "INTERNAL_ERROR"],
		TimeoutError: [new Errors.TimeoutError(`on ${NODE_ID}`), "INTERNAL_ERROR"],
		MoleculerError: [new Errors.MoleculerError(`on ${NODE_ID}`, 500, "SOMETHING", WHERE), "INTERNAL_ERROR"],
		MoleculerRetryableError: [new Errors.MoleculerRetryableError("x", 503, "RETRY", WHERE), "INTERNAL_ERROR"],
		MoleculerServerError: [new Errors.MoleculerServerError("x", 500, "WAITFOR_SERVICES", WHERE), "INTERNAL_ERROR"],
		MoleculerClientError: [new Errors.MoleculerClientError("x", 400, "SOMETHING", WHERE), "INTERNAL_ERROR"],
		ServiceSchemaError: [new Errors.ServiceSchemaError(`bad ${ACTION}`, WHERE), "INTERNAL_ERROR"],
		BrokerOptionsError: [new Errors.BrokerOptionsError("bad", WHERE), "INTERNAL_ERROR"],
		GracefulStopTimeoutError: [
			new Errors.GracefulStopTimeoutError({ service: { name: "history", version: 1 } }),
			"INTERNAL_ERROR",
		],
		ProtocolVersionMismatchError: [new Errors.ProtocolVersionMismatchError(WHERE), "INTERNAL_ERROR"],
		InvalidPacketDataError: [new Errors.InvalidPacketDataError(WHERE), "INTERNAL_ERROR"],
	};

	test("the table covers every error class moleculer exports", () => {
		const classes = Object.entries(Errors)
			.filter(([, value]) => typeof value === "function" && value.prototype instanceof Error)
			.map(([name]) => name);
		expect(classes.sort()).toEqual(Object.keys(expected).sort());
	});

	test.each(Object.entries(expected))("%s → its catalogue type and status, no node id or action", (_name, [err, type]) => {
		for (const thrown of [err, overTransporter(err)]) {
			const body = toErrorBody(thrown);
			expect(body).toMatchObject({ type, code: ERROR_CATALOGUE[type].status });
			expect(body.message).toBe(ERROR_CATALOGUE[type].message);
			expectNoInternals(body);
		}
	});

	test("transit failures are 503 (never 404, 429, 504 or 514)", () => {
		for (const [err, type] of Object.values(expected)) {
			if (type === "SERVICE_UNAVAILABLE" || type === "OUTCOME_UNKNOWN") expect(toErrorBody(err).code).toBe(503);
		}
	});

	describe("from a real broker", () => {
		const broker = new ServiceBroker({ logger: false, nodeID: NODE_ID });
		broker.createService({
			name: "history",
			actions: {
				append: { params: { limit: { type: "number", max: 500 }, channel: "string" }, handler: () => "ok" },
				slow: () => new Promise(resolve => setTimeout(resolve, 1000)),
			},
		});
		beforeAll(() => broker.start());
		afterAll(() => broker.stop());

		test("a validation error lists the failed fields only", async () => {
			const err = await broker.call(ACTION, { limit: 501, channel: 7 }).catch((e: unknown) => e);
			const body = toErrorBody(err);
			expect(body).toMatchObject({ code: 422, type: "VALIDATION_ERROR", message: "Parameters validation error!" });
			expect(body.data).toEqual([
				{ field: "limit", type: "numberMax", message: expect.stringContaining("limit") },
				{ field: "channel", type: "string", message: expect.stringContaining("channel") },
			]);
			expectNoInternals(body);
		});

		test("validation details are bounded", () => {
			const many = Array.from({ length: 1000 }, (_, i) => ({
				field: `f${i}`,
				type: "x",
				message: "m".repeat(10_000),
				actual: i,
			}));
			const body = toErrorBody(new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", many));
			expect(JSON.stringify(body).length).toBeLessThan(10_000);
		});

		test("no such action: 503 SERVICE_UNAVAILABLE", async () => {
			const err = await broker.call("history.nothing").catch((e: unknown) => e);
			expect(toErrorBody(err)).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE" });
			expectNoInternals(toErrorBody(err));
		});

		test("a timeout: 503 OUTCOME_UNKNOWN", async () => {
			const err = await broker.call("history.slow", {}, { timeout: 20 }).catch((e: unknown) => e);
			expect(err).toBeInstanceOf(Errors.RequestTimeoutError);
			expect(toErrorBody(err)).toMatchObject({ code: 503, type: "OUTCOME_UNKNOWN" });
		});
	});
});

describe("moleculer-web's errors", () => {
	test.each<[string, ErrorType, Error]>([
		["an unknown route", "NOT_FOUND", new ApiGateway.Errors.NotFoundError("NOT_FOUND")],
		["an alias whose service is gone", "SERVICE_UNAVAILABLE", new ApiGateway.Errors.ServiceUnavailableError("", WHERE)],
		[
			"a path parameter that does not decode",
			"INVALID_URL",
			new ApiGateway.Errors.BadRequestError(ApiGateway.Errors.ERR_UNABLE_DECODE_PARAM, { param: "%E0%A4%A" }),
		],
	])("%s → %s", (_name, type, err) => {
		const body = toErrorBody(err);
		expect(body).toMatchObject({ code: ERROR_CATALOGUE[type].status, type });
		expectNoInternals(body);
	});
});

describe("through moleculer-web with the api's body parsers", () => {
	// A gateway in this process, parsing bodies as the api route does, answering with toErrorBody.
	const broker = new ServiceBroker({ logger: false, nodeID: NODE_ID });
	broker.createService({
		name: "gw",
		mixins: [ApiGateway],
		settings: {
			port: 0,
			ip: "127.0.0.1",
			routes: [
				{
					path: "/api",
					mappingPolicy: "restrict",
					bodyParsers: { json: { limit: 100, strict: true }, text: { limit: 100, type: "text/plain" } },
					aliases: { "POST channels/:channel/messages": "gw.publish" },
				},
			],
			onError(_req: IncomingMessage, res: ServerResponse, err: unknown) {
				const body = toErrorBody(err);
				res.writeHead(body.code, { "Content-Type": "application/json" });
				res.end(JSON.stringify(body));
			},
		},
		actions: { publish: { visibility: "published", handler: () => ({ ok: true }) } },
	});
	let port = 0;

	beforeAll(async () => {
		await broker.start();
		const server: unknown = Reflect.get(broker.getLocalService("gw") ?? {}, "server");
		if (!(server instanceof Server)) throw new Error("the gateway has no HTTP server");
		port = (server.address() as AddressInfo).port;
	});
	afterAll(() => broker.stop());

	function post(
		path: string,
		headers: Record<string, string>,
		body: Buffer | string,
	): Promise<{ status: number; body: unknown }> {
		return new Promise((resolve, reject) => {
			const req = request({ port, host: "127.0.0.1", method: "POST", path, headers }, res => {
				const chunks: Buffer[] = [];
				res.on("data", (chunk: Buffer) => chunks.push(chunk));
				res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }));
			});
			req.on("error", reject);
			req.end(body);
		});
	}

	const PATH = "/api/channels/c1/messages";
	const JSON_TYPE = { "content-type": "application/json" };
	const encoded = (encoding: string) => ({ ...JSON_TYPE, "content-encoding": encoding });
	test.each<[string, ErrorType, string, Record<string, string>, Buffer | string]>([
		["a gzip body that does not decompress", "INVALID_BODY", PATH, encoded("gzip"), "not gzip"],
		["a deflate body cut short", "INVALID_BODY", PATH, encoded("deflate"), deflateSync("hello hello hello").subarray(0, 6)],
		["a br body that does not decompress", "INVALID_BODY", PATH, encoded("br"), "not brotli at all"],
		["an unknown Content-Encoding", "UNSUPPORTED_MEDIA_TYPE", PATH, encoded("compress"), "{}"],
		["an unknown charset", "UNSUPPORTED_MEDIA_TYPE", PATH, { "content-type": "text/plain; charset=klingon" }, "hi"],
		["malformed JSON", "INVALID_JSON", PATH, JSON_TYPE, "{oops"],
		["a body over the limit", "BODY_TOO_LARGE", PATH, JSON_TYPE, JSON.stringify({ text: "x".repeat(200) })],
		[
			"a compressed body over the limit",
			"BODY_TOO_LARGE",
			PATH,
			encoded("gzip"),
			gzipSync(JSON.stringify({ text: "x".repeat(10_000) })),
		],
		["a path that does not percent-decode", "INVALID_URL", "/api/channels/%E0%A4%A/messages", JSON_TYPE, "{}"],
		["an unknown route", "NOT_FOUND", "/api/nothing", JSON_TYPE, "{}"],
	])("%s → %s, without the parser's text", async (_name, type, path, headers, body) => {
		const answer = await post(path, headers, body);
		expect(answer.status).toBe(ERROR_CATALOGUE[type].status);
		expect(answer.body).toMatchObject({ code: ERROR_CATALOGUE[type].status, type });
		if (type !== "NOT_FOUND") expect(answer.body).toMatchObject({ message: ERROR_CATALOGUE[type].message });
	});

	test("a good gzip body reaches the action", async () => {
		expect(await post(PATH, encoded("gzip"), gzipSync("{}"))).toEqual({ status: 200, body: { ok: true } });
	});
});

test.each(["request.aborted", "request.size.invalid"])("body-parser's %s, as moleculer-web wraps it → 400 INVALID_BODY", type => {
	const wrapped = new Errors.MoleculerError("request size did not match content length", 400, type);
	expect(toErrorBody(wrapped)).toEqual(toErrorBody(chatError("INVALID_BODY")));
});

describe("Node's decompression errors, raw", () => {
	test.each<[string, () => unknown]>([
		["gzip", () => gunzipSync("not gzip")],
		["deflate", () => inflateSync(deflateSync("hello hello").subarray(0, 6))],
		["brotli", () => brotliDecompressSync("not brotli at all")],
		["zstd", () => zstdDecompressSync("not zstd")],
	])("%s → 400 INVALID_BODY", (_name, decompress) => {
		let thrown: unknown;
		try {
			decompress();
		} catch (err) {
			thrown = err;
		}
		expect(thrown).toMatchObject({ code: expect.any(String) });
		expect(toErrorBody(thrown)).toMatchObject({ code: 400, type: "INVALID_BODY" });
	});
});

describe("publishFailure: what a failed history.append means for the message", () => {
	test.each<[string, unknown]>([
		["history answered STORE_UNAVAILABLE", chatError("STORE_UNAVAILABLE", { reason: "ECONNREFUSED" })],
		["history failed otherwise", new Error("redis is down")],
		["history rejected the draft", new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [])],
		["no history node", new Errors.ServiceNotFoundError(WHERE)],
		["history is stopping", new Errors.ServiceNotAvailableError(WHERE)],
		["history's queue is full", new Errors.QueueIsFullError(WHERE)],
		["the deadline passed before sending", new Errors.RequestSkippedError(WHERE)],
		["our transporter is down", new Errors.BrokerDisconnectedError("Broker is disconnected!")],
	])("%s → STORE_UNAVAILABLE: definitely not stored", (_name, err) => {
		const failure = publishFailure(err);
		expect(failure).toBeInstanceOf(Errors.MoleculerError);
		expect(toErrorBody(failure)).toEqual(toErrorBody(chatError("STORE_UNAVAILABLE")));
	});

	test.each<[string, unknown]>([
		["no answer in time", new Errors.RequestTimeoutError(WHERE)],
		["the history node left with the request", new Errors.RequestRejectedError(WHERE)],
		["history could not tell", overTransporter(chatError("OUTCOME_UNKNOWN"))],
	])("%s → OUTCOME_UNKNOWN: may be stored", (_name, err) => {
		expect(toErrorBody(publishFailure(err))).toEqual(toErrorBody(chatError("OUTCOME_UNKNOWN")));
	});
});
