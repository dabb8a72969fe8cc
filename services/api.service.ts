/**
 * api — the HTTP edge (moleculer-web): REST API, SSE streams, the demo page, and the original
 * system's routes. One origin for all of it, so no CORS.
 *
 * @example
 *   broker.createService(createApiService(config));
 *   curl -X POST localhost:3000/api/channels/$C/messages -H 'Content-Type: application/json' -d '{"text":"hi"}'
 *   curl -N localhost:3000/api/channels/$C/events
 */
import { randomUUID } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import Redis from "ioredis";
import type { CallingOptions, Context, ServiceSchema } from "moleculer";
import ApiGateway, { type GatewaySettings } from "moleculer-web";
import type { StreamFormat } from "../src/channel-hub";
import type { ChatcastConfig } from "../src/config";
import { EdgeGuard } from "../src/edge-guard";
import { chatError, clientMsgIdMismatch, type ErrorBody, toErrorBody } from "../src/errors";
import { memoryCheck, type StoreMemory } from "../src/history-store";
import { parseChannel, parseLastEventId } from "../src/message";
import { MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from "../src/rate-limiter";
import { StreamLimits } from "../src/stream-limits";
import { localBroadcast } from "./broadcast.service";

/** What moleculer-web adds to a request. */
interface GatewayRequest extends IncomingMessage {
	$params: Record<string, unknown>;
	body?: unknown;
	/** The matched route's path (`/api`, `/chat`); undefined outside the routes. */
	baseUrl?: string;
}

/** An X-Request-ID we accept from a client (or proxy); anything else is replaced by a new id. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A refusal that says when to come back, for the `Retry-After` header. */
function retryAfterSeconds(body: ErrorBody): number | undefined {
	if (body.type === "EDGE_FULL") return EDGE_FULL_RETRY_SECONDS;
	if (body.type !== "RATE_LIMITED" || typeof body.data !== "object" || body.data === null) return undefined;
	const seconds = "retryAfterSeconds" in body.data ? body.data.retryAfterSeconds : undefined;
	return typeof seconds === "number" ? seconds : undefined;
}

/** Rate limits fail open and fast: a limiter must never be why a request hangs. */
function limitsConnection(url: string): Redis {
	const redis = new Redis(url, { maxRetriesPerRequest: 0, commandTimeout: 500, enableOfflineQueue: false });
	redis.on("error", () => undefined);
	return redis;
}

/** JSON overhead allowed on top of the text limit before the body itself is refused. */
export function bodyLimit(maxMessageBytes: number): number {
	return maxMessageBytes * 2 + 1024;
}

/** The demo page may load only its own scripts and styles, and talk only to this origin. */
const CONTENT_SECURITY_POLICY = [
	"default-src 'self'",
	"script-src 'self'",
	"style-src 'self'",
	"img-src 'self' data:",
	"connect-src 'self'",
	"object-src 'none'",
	"base-uri 'none'",
	"frame-ancestors 'none'",
	"form-action 'self'",
].join("; ");

function mediaType(req: IncomingMessage): string {
	return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * What every publish route takes from the request besides its own params: a text body (text/plain, or
 * anything on the legacy route) is the message text, and the standard `Idempotency-Key` header is the
 * `clientMsgId` (a body that names a different one is refused).
 */
function publishParams(req: GatewayRequest): void {
	if (typeof req.body === "string") req.$params.text = req.body;
	const key = req.headers["idempotency-key"];
	if (key === undefined) return;
	const current = req.$params.clientMsgId;
	if (current !== undefined && current !== null && current !== key) {
		throw clientMsgIdMismatch();
	}
	req.$params.clientMsgId = key;
}

interface ApiMethods {
	streamChannel(req: GatewayRequest, res: ServerResponse, format: StreamFormat): Promise<void>;
	sendChatError(req: IncomingMessage, res: ServerResponse, err: unknown): void;
	logRequestOnce(req: IncomingMessage, res: ServerResponse, requestID: string): void;
	createServer(): void;
	httpHandler(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): unknown;
}

interface ApiVars {
	guard: EdgeGuard;
	/** The connection the shared rate limits use; undefined without REDIS_URL (limits per process). */
	limitsRedis?: Redis;
	server: http.Server;
}

/** What moleculer-web's own methods are called as, from the overrides below. */
const gatewayMethods = ApiGateway.methods ?? {};

/** Seconds a client refused with EDGE_FULL is asked to wait. */
const EDGE_FULL_RETRY_SECONDS = 5;

type ApiConfig = Pick<
	ChatcastConfig,
	| "port"
	| "host"
	| "maxMessageBytes"
	| "publicDir"
	| "logFormat"
	| "corsOrigins"
	| "trustProxy"
	| "rateLimits"
	| "streamLimits"
	| "headersTimeoutMs"
	| "requestTimeoutMs"
	| "redisUrl"
	| "namespace"
>;

export function createApiService(config: ApiConfig): ServiceSchema<GatewaySettings, ApiMethods, ApiVars> {
	const limit = bodyLimit(config.maxMessageBytes);
	return {
		name: "api",
		mixins: [ApiGateway],

		settings: {
			port: config.port,
			ip: config.host,
			// One log line per request comes from logRequestOnce; moleculer-web's own would repeat it.
			logRequest: "debug",
			logResponse: "debug",

			/** Every request gets a request id (the client's X-Request-ID if sane): it is the Moleculer context's requestID. */
			rootCallOptions: function (this: ApiMethods, options: CallingOptions, req: IncomingMessage, res: ServerResponse) {
				const requestID = options.requestID && REQUEST_ID.test(options.requestID) ? options.requestID : randomUUID();
				options.requestID = requestID;
				res.setHeader("X-Request-ID", requestID);
				this.logRequestOnce(req, res, requestID);
			},

			routes: [
				{
					path: "/api",
					mappingPolicy: "restrict",
					bodyParsers: {
						json: { limit: limit, strict: true },
						text: { limit: limit, type: "text/plain" },
					},
					aliases: {
						"POST channels/:channel/messages": "ingest.publish",
						"GET channels/:channel/messages": "history.range",
						"GET channels/:channel/events"(this: ApiMethods, req: GatewayRequest, res: ServerResponse) {
							void this.streamChannel(req, res, "chatcast");
						},
						"GET channels/:channel": "broadcast.channel",
						"GET health": "api.health",
						"GET ready": "api.ready",
						"GET limits": "api.limits",
					},
					async onBeforeCall(this: ApiVars, _ctx: Context, _route: unknown, req: GatewayRequest) {
						if (req.method !== "POST") return;
						if (!["application/json", "text/plain"].includes(mediaType(req))) {
							throw chatError("UNSUPPORTED_MEDIA_TYPE", { contentType: req.headers["content-type"] ?? null });
						}
						publishParams(req);
						await this.guard.checkPublish(req);
					},
				},
				{
					// The original system's routes, kept for its client.
					path: "/chat",
					mappingPolicy: "restrict",
					bodyParsers: { text: { limit: limit, type: () => true } },
					aliases: {
						"POST publish/:channel/:author": "ingest.publish",
						"GET receive/:channel"(this: ApiMethods, req: GatewayRequest, res: ServerResponse) {
							void this.streamChannel(req, res, "legacy");
						},
					},
					async onBeforeCall(this: ApiVars, _ctx: Context, _route: unknown, req: GatewayRequest) {
						if (req.method !== "POST") return;
						publishParams(req);
						await this.guard.checkPublish(req);
					},
				},
			],

			assets: {
				folder: config.publicDir,
				options: {
					setHeaders(res: ServerResponse) {
						res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
						res.setHeader("X-Content-Type-Options", "nosniff");
						res.setHeader("Referrer-Policy", "no-referrer");
					},
				},
			},

			onError(this: ApiMethods, req: IncomingMessage, res: ServerResponse, err: unknown) {
				this.sendChatError(req, res, err);
			},
		},

		created() {
			// moleculer-web hands a request no alias took to its static server with the URL made relative to the
			// route (GET /api/app.js would be public/app.js): the demo page's files are served at the root only.
			const serve: unknown = Reflect.get(this, "serve");
			if (typeof serve === "function") {
				const rootOnly = (req: GatewayRequest, res: ServerResponse, next: (err?: unknown) => void): void =>
					req.baseUrl ? next() : serve(req, res, next);
				Reflect.set(this, "serve", rootOnly);
			}

			this.limitsRedis = config.rateLimits && config.redisUrl ? limitsConnection(config.redisUrl) : undefined;
			const limiter = (action: "publish" | "streamOpen"): RateLimiter | undefined => {
				const rate = config.rateLimits?.[action];
				if (!rate) return undefined;
				return this.limitsRedis
					? new RedisRateLimiter(this.limitsRedis, `${config.namespace}:rl:${action}:`, rate)
					: new MemoryRateLimiter(rate);
			};
			const publish = limiter("publish");
			const streamOpen = limiter("streamOpen");
			let lastLimiterWarning = 0;
			this.guard = new EdgeGuard({
				corsOrigins: config.corsOrigins,
				trustProxy: config.trustProxy,
				streamLimits: new StreamLimits(config.streamLimits),
				rateLimits: publish && streamOpen ? { publish, streamOpen } : undefined,
				onLimiterError: err => {
					if (Date.now() - lastLimiterWarning < 10_000) return;
					lastLimiterWarning = Date.now();
					this.logger.warn("Rate limits cannot reach Redis; requests pass unlimited meanwhile:", (err as Error).message);
				},
			});
		},

		async stopped() {
			if (this.limitsRedis?.status === "ready") await this.limitsRedis.quit().catch(() => undefined);
			this.limitsRedis?.disconnect();
		},

		actions: {
			// moleculer-web's route-management actions would let any node on the bus add a route (and
			// read the registry over HTTP): Chatcast's routes are fixed, so they do not exist here.
			addRoute: false,
			removeRoute: false,
			listAliases: false,

			/** Liveness: the process answers. */
			health: {
				visibility: "published",
				handler() {
					return { status: "ok", nodeID: this.broker.nodeID, uptimeSeconds: Math.round(process.uptime()) };
				},
			},

			/** What clients must respect, so the demo page need not restate it: `{ maxMessageBytes }`. */
			limits: {
				visibility: "published",
				handler() {
					return { maxMessageBytes: config.maxMessageBytes };
				},
			},

			/**
			 * Readiness: the transporter is connected, history (Redis) answers and its memory is not nearly full
			 * (past 90% of maxmemory publishes are about to be refused); 503 NOT_READY with the reasons otherwise.
			 */
			ready: {
				visibility: "published",
				async handler(ctx: Context) {
					const checks: Record<string, string> = {};
					const transit = this.broker.transit as { connected?: boolean } | undefined;
					checks.transporter = transit?.connected ? "ok" : "not connected";
					let memoryOk = false;
					try {
						const ping = await ctx.call<{ store: string; memory?: StoreMemory }, object>("history.ping", {}, { timeout: 3000 });
						checks.history = `ok (${ping.store})`;
						const memory = memoryCheck(ping.memory);
						checks.memory = memory.text;
						memoryOk = memory.ok;
					} catch (err) {
						// The type only: a timeout's message names nodes and actions.
						checks.history = toErrorBody(err).type;
						checks.memory = "unknown";
					}
					const ready = checks.transporter === "ok" && checks.history.startsWith("ok") && memoryOk;
					if (!ready) throw chatError("NOT_READY", { checks });
					return { status: "ready", nodeID: this.broker.nodeID, checks };
				},
			},
		},

		methods: {
			/** One line per request when it is done (a stream: when it closes), with route, status, duration and request id. */
			logRequestOnce(req: IncomingMessage, res: ServerResponse, requestID: string): void {
				const started = process.hrtime.bigint();
				res.once("close", () => {
					const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
					const alias = (req as { $alias?: { fullPath?: string } }).$alias;
					const route = alias?.fullPath ?? (res.statusCode === 404 ? "-" : "static");
					const entry = {
						method: req.method,
						route,
						path: req.url,
						status: res.statusCode,
						durationMs: Math.round(durationMs * 10) / 10,
						requestID,
					};
					const line = `${entry.method} ${entry.path} ${entry.status} ${entry.durationMs}ms`;
					// pino merges a leading object into the JSON line; people read the short line.
					if (config.logFormat === "json") this.logger.info(entry, line);
					else this.logger.info(`${line} [${requestID}]`);
				});
			},

			/** Hands the response to this node's broadcast service; errors before the stream opens are JSON. */
			async streamChannel(req: GatewayRequest, res: ServerResponse, format: StreamFormat): Promise<void> {
				try {
					const channel = parseChannel(req.$params.channel);
					const lastEventId = parseLastEventId(req.headers["last-event-id"] ?? req.$params.lastEventId);
					const broadcast = localBroadcast(this.broker);
					if (!broadcast) throw chatError("SERVICE_UNAVAILABLE", { service: "broadcast" }, "This node does not serve streams.");
					const release = await this.guard.admitStream(req, channel);
					res.once("close", release);
					await broadcast.openStream(res, channel, { lastEventId, format });
				} catch (err) {
					if (!res.headersSent) this.sendChatError(req, res, err);
					else res.end();
				}
			},

			/** Every error answer: its status and the JSON body with a stable `type`. */
			sendChatError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
				const body = toErrorBody(err);
				if (body.code >= 500) this.logger.warn(`${req.method} ${req.url} → ${body.code} ${body.type}:`, err);
				if (res.headersSent) return void res.end();
				const headers: Record<string, string> = { "Content-Type": "application/json; charset=utf-8" };
				const retryAfter = retryAfterSeconds(body);
				if (retryAfter !== undefined) headers["Retry-After"] = String(retryAfter);
				res.writeHead(body.code, headers);
				res.end(JSON.stringify(body));
			},

			/** moleculer-web's server, created with the header and request timeouts (slow clients are cut off). */
			createServer() {
				if (this.server) return;
				this.server = http.createServer(
					{
						headersTimeout: config.headersTimeoutMs,
						requestTimeout: config.requestTimeoutMs,
						// How often Node checks those timeouts (its default, 30 s, would triple them).
						connectionsCheckingInterval: 1000,
					},
					this.httpHandler,
				);
			},

			/** Every request passes the edge guard (origin, OPTIONS, nosniff) before moleculer-web routes it. */
			httpHandler(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) {
				const screened = this.guard.screen(req, res);
				if (screened === "answered") return;
				if (screened !== "pass") return this.sendChatError(req, res, screened.refused);
				return gatewayMethods.httpHandler.call(this, req, res, next);
			},
		},
	};
}
