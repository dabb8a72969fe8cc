/**
 * api — the HTTP edge (moleculer-web): REST API, SSE streams, the demo page, and the original
 * system's routes. One origin for all of it, so no CORS.
 *
 * @example
 *   curl -X POST localhost:3000/api/channels/$C/messages -H 'Content-Type: application/json' -d '{"text":"hi"}'
 *   curl -N localhost:3000/api/channels/$C/events
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, ServiceSchema } from "moleculer";
import ApiGateway, { type ApiSettingsSchema } from "moleculer-web";
import type { StreamFormat } from "../src/channel-hub";
import { loadConfig } from "../src/config";
import { chatError, toErrorBody } from "../src/errors";
import { parseChannel, parseLastEventId } from "../src/message";
import type { BroadcastService } from "./broadcast.service";

/** What moleculer-web adds to a request. */
interface GatewayRequest extends IncomingMessage {
	$params: Record<string, unknown>;
	body?: unknown;
}

const config = loadConfig(process.env);

/** JSON overhead allowed on top of the text limit before the body itself is refused. */
const BODY_LIMIT = config.maxMessageBytes * 2 + 1024;

/** The demo page may load only its own scripts and styles, and talk only to this origin. */
const CONTENT_SECURITY_POLICY = [
	"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
	"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'",
].join("; ");

function mediaType(req: IncomingMessage): string {
	return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

/** A text body (text/plain, or anything on the legacy route) is the message text. */
function textBodyAsParam(req: GatewayRequest): void {
	if (typeof req.body === "string") req.$params.text = req.body;
}

interface ApiMethods {
	streamChannel(req: GatewayRequest, res: ServerResponse, format: StreamFormat): Promise<void>;
	sendChatError(req: IncomingMessage, res: ServerResponse, err: unknown): void;
}

const ApiService: ServiceSchema<ApiSettingsSchema> = {
	name: "api",
	mixins: [ApiGateway],

	settings: {
		port: config.port,
		ip: config.host,
		// One log line per request comes from our own logging; moleculer-web's would repeat it.
		logRequest: "debug",
		logResponse: "debug",

		routes: [
			{
				path: "/api",
				mappingPolicy: "restrict",
				bodyParsers: {
					json: { limit: BODY_LIMIT, strict: true },
					text: { limit: BODY_LIMIT, type: "text/plain" },
				},
				aliases: {
					"POST channels/:channel/messages": "ingest.publish",
					"GET channels/:channel/messages": "history.range",
					"GET channels/:channel/events"(this: ApiMethods, req: GatewayRequest, res: ServerResponse) {
						void this.streamChannel(req, res, "chatcast");
					},
					"GET channels/:channel": "broadcast.channel",
				},
				onBeforeCall(_ctx: Context, _route: unknown, req: GatewayRequest) {
					if (req.method === "POST" && !["application/json", "text/plain"].includes(mediaType(req))) {
						throw chatError("UNSUPPORTED_MEDIA_TYPE", { contentType: req.headers["content-type"] ?? null });
					}
					textBodyAsParam(req);
				},
			},
			{
				// The original system's routes, kept for its client.
				path: "/chat",
				mappingPolicy: "restrict",
				bodyParsers: { text: { limit: BODY_LIMIT, type: () => true } },
				aliases: {
					"POST publish/:channel/:author": "ingest.publish",
					"GET receive/:channel"(this: ApiMethods, req: GatewayRequest, res: ServerResponse) {
						void this.streamChannel(req, res, "legacy");
					},
				},
				onBeforeCall(_ctx: Context, _route: unknown, req: GatewayRequest) {
					textBodyAsParam(req);
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

	methods: {
		/** Hands the response to this node's broadcast service; errors before the stream opens are JSON. */
		async streamChannel(req: GatewayRequest, res: ServerResponse, format: StreamFormat): Promise<void> {
			try {
				const channel = parseChannel(req.$params.channel);
				const lastEventId = parseLastEventId(req.headers["last-event-id"] ?? req.$params.lastEventId);
				const broadcast = this.broker.getLocalService("broadcast") as unknown as BroadcastService | undefined;
				if (!broadcast || !broadcast.hub) throw chatError("SERVICE_UNAVAILABLE", { service: "broadcast" }, "This node does not serve streams.");
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
};

export default ApiService;
