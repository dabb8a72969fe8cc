/**
 * The two stream routes (`GET /api/channels/:channel/events`, `GET /chat/receive/:channel`) served
 * straight from the HTTP handler, without moleculer-web: a stream lives for hours, and what
 * moleculer-web keeps for each request for as long as it lasts (its Moleculer context, its routing
 * promise, parsed params, listeners) was most of an idle stream's memory. Only the plain form of these
 * URLs is taken here (no body, nothing in the query but a `lastEventId` of the stream's id form); any other form goes
 * on to moleculer-web's aliases, which answer it through openChannelStream too, so both answer alike:
 * the same edge guard, status codes, headers, error bodies, request id and log line.
 *
 * @example
 *   const stream = matchStreamRequest(req);
 *   if (stream) return serveStream(req, res, stream, deps);   // before moleculer-web
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Identity } from "./auth/claims";
import type { StreamFormat } from "./channel-hub";
import type { StreamUser } from "./contract";
import { type EdgeGuard, setHeaders } from "./edge-guard";
import { chatError } from "./errors";
import { requestIdOfHeaders } from "./http-request";
import { EVENT_ID, parseChannel, parseLastEventId, type ResumePoint } from "./message";

/** A stream request: its channel and resume point as the client sent them (checked by openChannelStream). */
export interface StreamParams {
	channel: unknown;
	/** `?lastEventId=` (the `Last-Event-ID` header wins over it). */
	lastEventId: unknown;
	format: StreamFormat;
}

/** A stream request in the plain form, with what its log line names. */
export interface StreamRequest extends StreamParams {
	/** The route, as moleculer-web's alias names it. */
	route: string;
	/** The path as moleculer-web's routes see it (without the route's prefix). */
	logPath: string;
}

/** Whatever opens a stream on this node (the broadcast service). */
export interface StreamOpener {
	openStream(
		res: ServerResponse,
		channel: string,
		options: {
			resumeFrom?: ResumePoint;
			format: StreamFormat;
			user?: StreamUser;
			expiresAt?: number;
			/** Headers of the answer besides the stream's own, for its writeHead. */
			headers?: Record<string, string>;
		},
	): Promise<void>;
}

export interface StreamRouteDeps {
	guard: EdgeGuard;
	/** Who holds the stream (undefined: anonymous, allowed); throws 401 UNAUTHORIZED or 403 FORBIDDEN. */
	identify(req: IncomingMessage, channel: string): Promise<Identity | undefined>;
	/** This node's broadcast service; undefined when it runs none. */
	broadcast(): StreamOpener | undefined;
	/** Answers an error (status, JSON body with its `type`). */
	sendError(req: IncomingMessage, res: ServerResponse, err: unknown): void;
	/** Logs the request once, when the response closes. */
	logRequestOnce(req: IncomingMessage, res: ServerResponse, requestID: string, names: { route: string; path: string }): void;
}

const PLAIN_STREAM_URL = new RegExp(
	`^\\/(api\\/channels\\/([0-9A-Za-z-]{1,64})\\/events|chat\\/receive\\/([0-9A-Za-z-]{1,64}))(\\?lastEventId=${EVENT_ID.source})?$`,
);

/**
 * The stream request `req` is, in its plain form; undefined for anything else (moleculer-web routes it).
 *
 * @example
 *   matchStreamRequest(req); // GET /chat/receive/<uuid> → { channel: "<uuid>", format: "legacy", route: "/chat/receive/:channel", … }
 */
export function matchStreamRequest(req: IncomingMessage): StreamRequest | undefined {
	if (req.method !== "GET" || req.url === undefined) return undefined;
	// A body is parsed (and may be refused) by moleculer-web's body parsers: such a request is theirs.
	if (req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined) return undefined;
	const match = PLAIN_STREAM_URL.exec(req.url);
	if (!match) return undefined;
	const [, , apiChannel, legacyChannel, query] = match;
	const lastEventId = query?.slice("?lastEventId=".length);
	return apiChannel !== undefined
		? { channel: apiChannel, lastEventId, format: "chatcast", route: "/api/channels/:channel/events", logPath: req.url.slice(4) }
		: { channel: legacyChannel, lastEventId, format: "legacy", route: "/chat/receive/:channel", logPath: req.url.slice(5) };
}

/**
 * Serves a plain stream request: the edge guard's screen, its request id and log line (as moleculer-web's
 * root call gives them), then the stream. Its headers are handed to the stream's writeHead rather than set
 * with setHeader: a response keeps every header set that way (a table of [name, value] pairs) for as long
 * as it lives, and a stream lives for hours.
 */
export function serveStream(req: IncomingMessage, res: ServerResponse, stream: StreamRequest, deps: StreamRouteDeps): void {
	const screened = deps.guard.answerHeaders(req);
	if (screened.refused) {
		setHeaders(res, screened.headers);
		deps.sendError(req, res, screened.refused);
		return;
	}
	const requestID = requestIdOfHeaders(req.headers);
	deps.logRequestOnce(req, res, requestID, { route: stream.route, path: stream.logPath });
	void openChannelStream(req, res, stream, deps, { ...screened.headers, "X-Request-ID": requestID });
}

/**
 * Checks the request (channel, Last-Event-ID, the token, the edge guard's stream limits) and hands the response to
 * this node's broadcast service; an error before the stream opens is answered as JSON. `headers` go with either
 * answer (those already set on `res` too).
 */
export async function openChannelStream(
	req: IncomingMessage,
	res: ServerResponse,
	params: StreamParams,
	deps: StreamRouteDeps,
	headers: Record<string, string> = {},
): Promise<void> {
	try {
		const channel = parseChannel(params.channel);
		const resumeFrom = parseLastEventId(req.headers["last-event-id"] ?? params.lastEventId);
		const broadcast = deps.broadcast();
		if (!broadcast) throw chatError("SERVICE_UNAVAILABLE", { service: "broadcast" }, "This node does not serve streams.");
		const identity = await deps.identify(req, channel);
		const user = identity && { userId: identity.userId, name: identity.name };
		const release = await deps.guard.admitStream(req, channel, user);
		// Admission may wait for Redis: a client gone meanwhile ("close" already fired) must not keep its place.
		if (req.socket.destroyed) return release();
		// `on`, not `once`: a response emits close once, and once's wrapper would be kept as long as the stream.
		res.on("close", release);
		await broadcast.openStream(res, channel, {
			resumeFrom,
			format: params.format,
			user,
			expiresAt: identity?.expiresAt,
			headers,
		});
	} catch (err) {
		if (res.headersSent) return void res.end();
		setHeaders(res, headers);
		deps.sendError(req, res, err);
	}
}
