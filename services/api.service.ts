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
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CallingOptions, Context, ServiceSchema } from "moleculer";
import ApiGateway, { type GatewaySettings } from "moleculer-web";
import type { StreamFormat } from "../src/channel-hub";
import type { ChatcastConfig } from "../src/config";
import { chatError, toErrorBody } from "../src/errors";
import { parseChannel, parseLastEventId } from "../src/message";
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
		throw chatError("INVALID_CLIENT_MSG_ID", {}, "The Idempotency-Key header and clientMsgId differ.");
	}
	req.$params.clientMsgId = key;
}

interface ApiMethods {
	streamChannel(req: GatewayRequest, res: ServerResponse, format: StreamFormat): Promise<void>;
	sendChatError(req: IncomingMessage, res: ServerResponse, err: unknown): void;
	logRequestOnce(req: IncomingMessage, res: ServerResponse, requestID: string): void;
}

type ApiConfig = Pick<ChatcastConfig, "port" | "host" | "maxMessageBytes" | "publicDir" | "logFormat">;

export function createApiService(config: ApiConfig): ServiceSchema<GatewaySettings> {
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
					onBeforeCall(_ctx: Context, _route: unknown, req: GatewayRequest) {
						if (req.method === "POST" && !["application/json", "text/plain"].includes(mediaType(req))) {
							throw chatError("UNSUPPORTED_MEDIA_TYPE", { contentType: req.headers["content-type"] ?? null });
						}
						if (req.method === "POST") publishParams(req);
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
					onBeforeCall(_ctx: Context, _route: unknown, req: GatewayRequest) {
						if (req.method === "POST") publishParams(req);
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

		actions: {
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

			/** Readiness: the transporter is connected and history (Redis) answers; 503 NOT_READY with the reasons otherwise. */
			ready: {
				visibility: "published",
				async handler(ctx: Context) {
					const checks: Record<string, string> = {};
					const transit = this.broker.transit as { connected?: boolean } | undefined;
					checks.transporter = transit?.connected ? "ok" : "not connected";
					try {
						const ping = await ctx.call<{ store: string }, object>("history.ping", {}, { timeout: 3000 });
						checks.history = `ok (${ping.store})`;
					} catch (err) {
						checks.history = (err as Error).message;
					}
					const ready = checks.transporter === "ok" && checks.history.startsWith("ok");
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
					await broadcast.openStream(res, channel, { lastEventId, format });
				} catch (err) {
					if (!res.headersSent) this.sendChatError(req, res, err);
					else res.end();
				}
			},

			/** Every error answer: its status and the JSON body with a stable `type`. */
			sendChatError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
				const body = toErrorBody(err);
				if (body.code >= 500) this.logger.warn(`${req.method} ${req.url} → ${body.code} ${body.type}: ${body.message}`);
				if (res.headersSent) return void res.end();
				res.writeHead(body.code, { "Content-Type": "application/json; charset=utf-8" });
				res.end(JSON.stringify(body));
			},
		},

		created() {
			// moleculer-web hands a request no alias took to its static server with the URL made relative to the
			// route (GET /api/app.js would be public/app.js): the demo page's files are served at the root only.
			const serve: unknown = Reflect.get(this, "serve");
			if (typeof serve !== "function") return;
			const rootOnly = (req: GatewayRequest, res: ServerResponse, next: (err?: unknown) => void): void =>
				req.baseUrl ? next() : serve(req, res, next);
			Reflect.set(this, "serve", rootOnly);
		},
	};
}
