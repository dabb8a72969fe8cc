/**
 * api — the HTTP edge (moleculer-web): REST API, SSE streams, the demo page, and the original
 * system's routes. One origin for all of it, so no CORS but for the origins CORS_ORIGINS lists.
 *
 * @example
 *   broker.createService(createApiService(config));
 *   curl -X POST localhost:3000/api/channels/$C/messages -H 'Content-Type: application/json' -d '{"text":"hi"}'
 *   curl -N localhost:3000/api/channels/$C/events
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { CallingOptions, Context, ServiceSchema } from "moleculer";
import ApiGateway, { type GatewaySettings } from "moleculer-web";
import type { Identity } from "../src/auth/claims";
import { AuthGate } from "../src/auth/gate";
import { tokenOf, withoutTokens } from "../src/auth/token-source";
import { TokenVerifier } from "../src/auth/verifier";
import type { StreamFormat } from "../src/channel-hub";
import type { ChatcastConfig } from "../src/config";
import { createEdgeGuard, type EdgeGuard } from "../src/edge-guard";
import { answerClientError, errorAnswer } from "../src/error-answer";
import { chatError, toErrorBody } from "../src/errors";
import { bodyLimit, CONTENT_SECURITY_POLICY, isFilePath, mediaType, requestIdOf } from "../src/http-request";
import { memoryCheck, type StoreMemory } from "../src/history-store";
import type { StreamUser } from "../src/contract";
import { parseChannel } from "../src/message";
import type { Publish } from "../src/publish";
import { admitPublish, matchPublishRequest, type PublishRouteDeps, servePublish } from "../src/publish-route";
import { rateLimitConnection } from "../src/rate-limiter";
import { matchStreamRequest, openChannelStream, serveStream, type StreamRouteDeps } from "../src/stream-route";
import { closeRedis, type RedisConnection } from "../src/redis-connection";
import { localBroadcast } from "./broadcast.service";

/** What moleculer-web adds to a request: its body and the action's params so far. */
interface GatewayRequest extends IncomingMessage {
	$params: Record<string, unknown>;
	body?: unknown;
	/** The matched route's path (`/api`, `/chat`); undefined outside the routes. */
	baseUrl?: string;
}

/** What a route hook learns of the alias a request matched. */
interface MatchedAlias {
	path?: string;
}

/** What the api sets on the context of a call it makes: the authenticated user, for ingest.publish. */
interface ApiMeta {
	user?: StreamUser;
}

interface ApiMethods {
	authorize(ctx: Context<unknown, ApiMeta>, req: GatewayRequest, alias: MatchedAlias): Promise<void>;
	streamChannel(req: GatewayRequest, res: ServerResponse, format: StreamFormat): Promise<void>;
	sendChatError(req: IncomingMessage, res: ServerResponse, err: unknown): void;
	logRequestOnce(req: IncomingMessage, res: ServerResponse, requestID: string, names?: { route: string; path: string }): void;
	createServer(): void;
	httpHandler(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): unknown;
}

interface ApiVars {
	guard: EdgeGuard;
	auth: AuthGate;
	/** Each request's token, taken off its URL before anything (moleculer-web, logs) sees it. */
	tokens: WeakMap<IncomingMessage, string>;
	/** Each request's verified identity, from authorize() to the stream it opens. */
	identities: WeakMap<IncomingMessage, Identity>;
	/** What the stream routes need, also when they bypass moleculer-web (src/stream-route.ts). */
	streams: StreamRouteDeps;
	/** What the lean publish route needs (src/publish-route.ts); undefined when this node does not publish locally. */
	publishes?: PublishRouteDeps;
	/** The connection the shared rate limits use; undefined without Redis (limits per process). */
	limitsRedis?: RedisConnection;
	server: http.Server;
}

/** What moleculer-web's own methods are called as, from the overrides below. */
const gatewayMethods = ApiGateway.methods ?? {};

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
	| "redis"
	| "namespace"
	| "auth"
>;

/**
 * `publish`: the node's own publish (it runs ingest and history): the plain publish requests are then
 * served without moleculer-web (src/publish-route.ts); without it every publish is a call to ingest.publish.
 */
export function createApiService(config: ApiConfig, publish?: Publish): ServiceSchema<GatewaySettings, ApiMethods, ApiVars> {
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
				const requestID = requestIdOf(options.requestID);
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
					async onBeforeCall(
						this: ApiVars & ApiMethods,
						ctx: Context<unknown, ApiMeta>,
						_route: unknown,
						req: GatewayRequest,
						_res: ServerResponse,
						alias: MatchedAlias,
					) {
						if (req.method === "POST" && !["application/json", "text/plain"].includes(mediaType(req))) {
							throw chatError("UNSUPPORTED_MEDIA_TYPE", { contentType: req.headers["content-type"] ?? null });
						}
						await this.authorize(ctx, req, alias);
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
					async onBeforeCall(
						this: ApiMethods,
						ctx: Context<unknown, ApiMeta>,
						_route: unknown,
						req: GatewayRequest,
						_res: ServerResponse,
						alias: MatchedAlias,
					) {
						await this.authorize(ctx, req, alias);
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
			// route (GET /api/app.js would be public/app.js): the demo page's files are served at the root only,
			// and for plain paths only (serve-static throws on some, e.g. "//#@").
			const serve: unknown = Reflect.get(this, "serve");
			if (typeof serve === "function") {
				const rootOnly = (req: GatewayRequest, res: ServerResponse, next: (err?: unknown) => void): void =>
					req.baseUrl || !isFilePath(req.url) ? next() : serve(req, res, next);
				Reflect.set(this, "serve", rootOnly);
			}

			this.auth = new AuthGate(config.auth && new TokenVerifier(config.auth));
			this.tokens = new WeakMap();
			this.identities = new WeakMap();
			this.limitsRedis = config.rateLimits && config.redis ? rateLimitConnection(config.redis) : undefined;
			let lastLimiterWarning = 0;
			this.guard = createEdgeGuard(config, this.limitsRedis, err => {
				if (Date.now() - lastLimiterWarning < 10_000) return;
				lastLimiterWarning = Date.now();
				this.logger.warn("Rate limits cannot reach Redis; requests pass unlimited meanwhile:", (err as Error).message);
			});
			this.streams = {
				guard: this.guard,
				// The alias path has verified the token in authorize() already; the plain path verifies it here.
				identify: async (req, channel) => this.identities.get(req) ?? this.auth.admit(this.tokens.get(req), "read", channel),
				broadcast: () => localBroadcast(this.broker),
				sendError: (req, res, err) => this.sendChatError(req, res, err),
				logRequestOnce: (req, res, requestID, names) => this.logRequestOnce(req, res, requestID, names),
			};
			this.publishes = publish && {
				tokenOf: req => this.tokens.get(req),
				auth: this.auth,
				guard: this.guard,
				publish,
				sendError: (req, res, err) => this.sendChatError(req, res, err),
				logRequestOnce: (req, res, requestID, names) => this.logRequestOnce(req, res, requestID, names),
			};
		},

		async stopped() {
			if (this.limitsRedis) await closeRedis(this.limitsRedis);
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

			/**
			 * What clients must respect, so the demo page need not restate it: `{ maxMessageBytes, auth }`
			 * (`auth`: "off", "publish" — publishing needs a token — or "all").
			 */
			limits: {
				visibility: "published",
				handler() {
					return { maxMessageBytes: config.maxMessageBytes, auth: this.auth.mode };
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
					let memoryOk = true;
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
					const ready = checks.transporter === "ok" && checks.history.startsWith("ok");
					if (!ready) throw chatError("NOT_READY", { checks });
					// A full Redis is every node's, so it is reported, not made a reason to take this node out of a
					// load balancer: streams and history reads still work; publishes get STORE_FULL.
					return { status: memoryOk ? "ready" : "degraded", nodeID: this.broker.nodeID, checks };
				},
			},
		},

		methods: {
			/**
			 * Before a call on a channel: a publish is admitted (admitPublish: the token, the author, the rate
			 * limit) with its user in `ctx.meta.user` for ingest (never from the body); a read verifies the token,
			 * whose identity goes to the stream through `identities`.
			 */
			async authorize(ctx: Context<unknown, ApiMeta>, req: GatewayRequest, alias: MatchedAlias): Promise<void> {
				if (req.method === "POST") {
					const user = await admitPublish(req, req.$params, req.body, this.tokens.get(req), this);
					if (user) ctx.meta.user = user;
					return;
				}
				if (!alias.path?.includes(":channel")) return;
				const channel = parseChannel(req.$params.channel);
				const identity = await this.auth.admit(this.tokens.get(req), "read", channel);
				if (identity) this.identities.set(req, identity);
			},

			/** One line per request when it is done (a stream: when it closes), with route, status, duration and request id. */
			logRequestOnce(
				req: IncomingMessage,
				res: ServerResponse,
				requestID: string,
				names?: { route: string; path: string },
			): void {
				const started = process.hrtime.bigint();
				// `on`, not `once`: a response emits close once, and once's wrapper would be kept as long as a stream.
				res.on("close", () => {
					const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
					const alias = (req as { $alias?: { fullPath?: string } }).$alias;
					const route = names?.route ?? alias?.fullPath ?? (res.statusCode === 404 ? "-" : "static");
					const entry = {
						method: req.method,
						route,
						path: names?.path ?? req.url,
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

			/** A stream request in a form only moleculer-web's routing takes (see src/stream-route.ts). */
			async streamChannel(req: GatewayRequest, res: ServerResponse, format: StreamFormat): Promise<void> {
				await openChannelStream(
					req,
					res,
					{ channel: req.$params.channel, lastEventId: req.$params.lastEventId, format },
					this.streams,
				);
			},

			/** Every error answer: its status and the JSON body with a stable `type`. */
			sendChatError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
				const answer = errorAnswer(err);
				if (answer.status >= 500) this.logger.warn(`${req.method} ${req.url} → ${answer.status} ${answer.error.type}:`, err);
				if (res.headersSent) return void res.end();
				res.writeHead(answer.status, answer.headers);
				res.end(answer.body);
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
				this.server.on("clientError", answerClientError);
			},

			/** Every request passes the edge guard (origin, OPTIONS, nosniff) before moleculer-web routes it. */
			httpHandler(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) {
				// The token leaves the URL first: no log line, error or action parameter ever holds it.
				const token = tokenOf(req);
				if (token !== undefined) this.tokens.set(req, token);
				req.url = withoutTokens(req.url);
				// A stream screens itself: its headers go to its writeHead (src/stream-route.ts).
				const stream = matchStreamRequest(req);
				if (stream) return serveStream(req, res, stream, this.streams);
				const screened = this.guard.screen(req, res);
				if (screened === "answered") return;
				if (screened !== "pass") return this.sendChatError(req, res, screened.refused);
				const publish = this.publishes && matchPublishRequest(req, limit);
				if (publish && this.publishes) return servePublish(req, res, publish, this.publishes);
				return gatewayMethods.httpHandler.call(this, req, res, next);
			},
		},
	};
}
