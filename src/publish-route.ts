/**
 * The two publish routes (`POST /api/channels/:channel/messages`, `POST /chat/publish/:channel/:author`)
 * served straight from the HTTP handler, without moleculer-web and without a Moleculer call: its
 * routing, body parsers, context and parameter validation were most of a publish's CPU. Only the plain
 * form is taken here: the exact path without a query, a `Content-Length` within the body limit, no
 * `Transfer-Encoding` or `Content-Encoding`, and `text/plain` or `application/json` in UTF-8 (no
 * charset, or `charset=utf-8`; the legacy route also takes no Content-Type). Anything else (gzip,
 * chunked, another charset, a query, a body over the limit) goes on to moleculer-web, which answers it
 * through the same admission (admitPublish) and the same publish (src/publish.ts). So both answer
 * alike: the edge guard, the token, the rate limit, status codes, headers, error bodies, request id and
 * log line.
 *
 * @example
 *   const publish = matchPublishRequest(req, bodyLimit(config.maxMessageBytes));
 *   if (publish) return servePublish(req, res, publish, deps);   // before moleculer-web
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthGate } from "./auth/gate";
import type { StreamUser } from "./contract";
import type { EdgeGuard } from "./edge-guard";
import { chatError } from "./errors";
import { publishParams, requestIdOfHeaders } from "./http-request";
import { isReservedAuthor, parseChannel, type PublishInput, RESERVED_AUTHOR } from "./message";
import type { Publish } from "./publish";

/** A publish request in the plain form. */
export interface PublishRequest {
	channel: string;
	/** The legacy route's author (from its path). */
	author?: string;
	/** Whether the body is JSON (`application/json` on the API route); otherwise it is the text. */
	json: boolean;
	/** The route, as moleculer-web's alias names it. */
	route: string;
	/** The path as moleculer-web's routes see it (without the route's prefix). */
	logPath: string;
}

export interface PublishRouteDeps {
	/** The request's token, if it had one (taken off the URL before anything else saw it). */
	tokenOf(req: IncomingMessage): string | undefined;
	auth: AuthGate;
	guard: EdgeGuard;
	publish: Publish;
	/** Answers an error (status, JSON body with its `type`). */
	sendError(req: IncomingMessage, res: ServerResponse, err: unknown): void;
	/** Logs the request once, when the response closes. */
	logRequestOnce(req: IncomingMessage, res: ServerResponse, requestID: string, names: { route: string; path: string }): void;
}

const API_PUBLISH = /^\/api\/channels\/([0-9A-Za-z-]{1,64})\/messages$/;
// Authors that need no percent-decoding; any other goes to moleculer-web, which decodes (or refuses) it.
const LEGACY_PUBLISH = /^\/chat\/publish\/([0-9A-Za-z-]{1,64})\/([0-9A-Za-z._~-]{1,64})$/;
const PLAIN_TYPE = /^(text\/plain|application\/json)(\s*;\s*charset=utf-8)?$/i;
const LENGTH = /^\d{1,10}$/;

/**
 * The publish request `req` is, in its plain form; undefined for anything else (moleculer-web routes it).
 *
 * @example
 *   matchPublishRequest(req, 9216); // POST /api/channels/<uuid>/messages, text/plain, 17 bytes → { channel: "<uuid>", json: false, … }
 */
export function matchPublishRequest(req: IncomingMessage, maxBodyBytes: number): PublishRequest | undefined {
	if (req.method !== "POST" || req.url === undefined) return undefined;
	const { headers } = req;
	if (headers["transfer-encoding"] !== undefined || headers["content-encoding"] !== undefined) return undefined;
	const length = headers["content-length"];
	if (length === undefined || !LENGTH.test(length) || Number(length) > maxBodyBytes) return undefined;
	const type = headers["content-type"];
	const media = type === undefined ? undefined : PLAIN_TYPE.exec(type)?.[1]?.toLowerCase();
	if (type !== undefined && media === undefined) return undefined;
	const api = API_PUBLISH.exec(req.url);
	if (api) {
		if (media === undefined) return undefined;
		const [, channel] = api;
		return { channel, json: media === "application/json", route: "/api/channels/:channel/messages", logPath: req.url.slice(4) };
	}
	const legacy = LEGACY_PUBLISH.exec(req.url);
	if (!legacy) return undefined;
	const [, channel, author] = legacy;
	return { channel, author, json: false, route: "/chat/publish/:channel/:author", logPath: req.url.slice(5) };
}

/** Serves a plain publish request: its request id and log line (as moleculer-web's root call gives them), then the publish. */
export function servePublish(req: IncomingMessage, res: ServerResponse, request: PublishRequest, deps: PublishRouteDeps): void {
	const requestID = requestIdOfHeaders(req.headers);
	res.setHeader("X-Request-ID", requestID);
	deps.logRequestOnce(req, res, requestID, { route: request.route, path: request.logPath });
	void readBody(req).then(body => body && publishBody(req, res, request, body, deps));
}

async function publishBody(
	req: IncomingMessage,
	res: ServerResponse,
	request: PublishRequest,
	raw: Buffer,
	deps: PublishRouteDeps,
): Promise<void> {
	try {
		const text = withoutBom(raw.toString("utf8"));
		const body = request.json ? parseJson(text) : text;
		// As moleculer-web merges them: the body's fields, then the path's.
		const params: Record<string, unknown> = {};
		Object.assign(params, typeof body === "object" && body !== null ? body : {}, { channel: request.channel });
		if (request.author !== undefined) params.author = request.author;
		const user = await admitPublish(req, params, body, deps.tokenOf(req), deps);
		const outcome = await deps.publish(publishInput(params), user);
		res.statusCode = outcome.status;
		if (outcome.status === 201) res.setHeader("Location", outcome.location);
		res.setHeader("Content-Type", "application/json; charset=utf-8");
		res.end(outcome.json);
	} catch (err) {
		deps.sendError(req, res, err);
	}
}

/**
 * Who publishes, checked before any publish (either route): the text body and `Idempotency-Key` taken
 * into `params`, the channel, the token (if any, or required), the author not `system`, the rate limit
 * counted per user (else per address). Resolves with the verified user, never one the body names.
 */
export async function admitPublish(
	req: IncomingMessage,
	params: Record<string, unknown>,
	body: unknown,
	token: string | undefined,
	deps: { auth: AuthGate; guard: EdgeGuard },
): Promise<StreamUser | undefined> {
	publishParams(params, body, req.headers);
	const channel = parseChannel(params.channel);
	const identity = await deps.auth.admit(token, "publish", channel);
	const user = identity && { userId: identity.userId, name: identity.name };
	if (isReservedAuthor(user ? user.name : params.author))
		throw chatError("INVALID_AUTHOR", undefined, `The author "${RESERVED_AUTHOR}" is reserved for the operator REPL.`);
	await deps.guard.checkPublish(req, user);
	return user;
}

/** The publish's input from the merged params (what ingest.publish's params are). */
function publishInput(params: Record<string, unknown>): PublishInput {
	return { channel: String(params.channel), text: params.text, author: params.author, clientMsgId: params.clientMsgId };
}

/** The body as body-parser's strict JSON parser reads it: `{}` when empty, an object or an array, else INVALID_JSON. */
function parseJson(text: string): unknown {
	if (text.length === 0) return {};
	const first = /^[ \t\n\r]*(.)/s.exec(text)?.[1];
	if (first !== "{" && first !== "[") throw chatError("INVALID_JSON");
	try {
		return JSON.parse(text);
	} catch {
		throw chatError("INVALID_JSON");
	}
}

/** A leading byte-order mark is dropped, as body-parser's decoder does. */
function withoutBom(text: string): string {
	return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The whole body (its length is the Content-Length, which Node's parser holds it to); undefined if the client left first. */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
	return new Promise(resolve => {
		const chunks: Buffer[] = [];
		req.on("data", (chunk: Buffer) => chunks.push(chunk));
		req.once("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
		req.once("error", () => resolve(undefined));
		req.once("close", () => {
			if (!req.complete) resolve(undefined);
		});
	});
}
