/**
 * What an edge checks before it does any work for a request: which page may call it (origin), that a
 * preflight never reaches an action, how often one client may publish or open streams (token buckets,
 * shared over Redis), and how many streams it may hold. Every refusal is a catalogue error, answered
 * as JSON like every other.
 *
 * @example
 *   const guard = new EdgeGuard({ corsOrigins: [], trustProxy: [], streamLimits, rateLimits });
 *   if (guard.screen(req, res) === "answered") return;       // before routing
 *   await guard.checkPublish(req, user);                      // before ingest.publish (user: counted per user)
 *   const release = await guard.admitStream(req, channel, user); // before a stream opens
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { clientAddress, limitKey } from "./client-address";
import { chatError } from "./errors";
import { corsHeaders, originVerdict } from "./origin-policy";
import type { ChatcastConfig } from "./config";
import type { StreamUser } from "./contract";
import { MemoryRateLimiter, type RateDecision, type RateLimit, type RateLimiter, RedisRateLimiter } from "./rate-limiter";
import type { RedisConnection } from "./redis-connection";
import { StreamLimits, type StreamRefusal } from "./stream-limits";

export interface EdgeGuardOptions {
	corsOrigins: readonly string[];
	trustProxy: readonly string[];
	streamLimits: StreamLimits;
	/** Undefined: no rate limits (RATE_LIMITS=off). */
	rateLimits?: { publish: RateLimiter; streamOpen: RateLimiter };
	/** A limiter that fails (Redis away) lets the request through: the store's own errors answer then. */
	onLimiterError?: (err: unknown) => void;
}

const STREAM_REFUSALS: Record<StreamRefusal, () => Error> = {
	client: () => chatError("TOO_MANY_STREAMS", { limit: "client" }, "This address has too many open streams."),
	channels: () => chatError("TOO_MANY_STREAMS", { limit: "channels" }, "This address follows too many channels at once."),
	edge: () => chatError("EDGE_FULL"),
};

/**
 * The guard a configuration asks for: rate limits shared over `redis` when given (else per process),
 * or none with RATE_LIMITS=off.
 */
export function createEdgeGuard(
	config: Pick<ChatcastConfig, "corsOrigins" | "trustProxy" | "rateLimits" | "streamLimits" | "namespace">,
	redis: RedisConnection | undefined,
	onLimiterError?: (err: unknown) => void,
): EdgeGuard {
	const limits = config.rateLimits;
	const limiter = (action: "publish" | "streamOpen", limit: RateLimit): RateLimiter =>
		redis ? new RedisRateLimiter(redis, `${config.namespace}:rl:${action}:`, limit) : new MemoryRateLimiter(limit);
	return new EdgeGuard({
		corsOrigins: config.corsOrigins,
		trustProxy: config.trustProxy,
		streamLimits: new StreamLimits(config.streamLimits),
		rateLimits: limits && { publish: limiter("publish", limits.publish), streamOpen: limiter("streamOpen", limits.streamOpen) },
		onLimiterError,
	});
}

export class EdgeGuard {
	constructor(private readonly options: EdgeGuardOptions) {}

	/**
	 * Before routing: headers every answer carries, the origin check, and OPTIONS answered here (it never
	 * runs the action behind the path). "answered" means the response is done; "refused" carries the error.
	 */
	screen(req: IncomingMessage, res: ServerResponse): "pass" | "answered" | { refused: Error } {
		const screened = this.answerHeaders(req);
		setHeaders(res, screened.headers);
		if (screened.refused) return { refused: screened.refused };
		if (req.method === "OPTIONS") {
			res.writeHead(204, { Allow: "GET, POST, OPTIONS", "Content-Length": "0" });
			res.end();
			return "answered";
		}
		return "pass";
	}

	/**
	 * What screen() decides, without touching the response: the headers every answer to `req` carries
	 * (nosniff, CORS), and the refusal of a disallowed origin. A stream passes them to its writeHead instead
	 * of setting them: a response keeps every header set with setHeader for its life (see stream-route.ts).
	 */
	answerHeaders(req: IncomingMessage): { headers: Record<string, string>; refused?: Error } {
		const origin = req.headers.origin;
		const verdict = originVerdict(origin, req.headers.host, this.options.corsOrigins);
		const headers = { "X-Content-Type-Options": "nosniff" };
		if (verdict === "refused") return { headers, refused: chatError("ORIGIN_NOT_ALLOWED") };
		return { headers: verdict === "allowed" && origin !== undefined ? { ...headers, ...corsHeaders(origin) } : headers };
	}

	/**
	 * The client a limit is counted for: the authenticated user (`user:<sub>`), wherever it connects from;
	 * otherwise its address (an IPv6 client: its /64).
	 */
	clientOf(req: IncomingMessage, user?: StreamUser): string {
		if (user) return `user:${user.userId}`;
		return limitKey(clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], this.options.trustProxy));
	}

	/** Throws RATE_LIMITED when this client publishes faster than its bucket allows. */
	async checkPublish(req: IncomingMessage, user?: StreamUser): Promise<void> {
		const limiter = this.options.rateLimits?.publish;
		if (limiter) refuseIfEmpty(await this.consume(limiter, this.clientOf(req, user)), "publish");
	}

	/**
	 * Counts a stream about to open; resolves with its release (call when the stream closes), or throws
	 * RATE_LIMITED, TOO_MANY_STREAMS or EDGE_FULL.
	 */
	async admitStream(req: IncomingMessage, channel: string, user?: StreamUser): Promise<() => void> {
		const client = this.clientOf(req, user);
		const limiter = this.options.rateLimits?.streamOpen;
		if (limiter) refuseIfEmpty(await this.consume(limiter, client), "streamOpen");
		const lease = this.options.streamLimits.open(client, channel);
		if ("refused" in lease) throw STREAM_REFUSALS[lease.refused]();
		return lease.release;
	}

	private async consume(limiter: RateLimiter, key: string): Promise<RateDecision> {
		try {
			return await limiter.consume(key);
		} catch (err) {
			this.options.onLimiterError?.(err);
			return { allowed: true, retryAfterMs: 0 };
		}
	}
}

function refuseIfEmpty(decision: RateDecision, action: "publish" | "streamOpen"): void {
	if (!decision.allowed)
		throw chatError("RATE_LIMITED", { action, retryAfterSeconds: Math.max(1, Math.ceil(decision.retryAfterMs / 1000)) });
}

/** Sets `headers` on a response that has not sent its own yet. */
export function setHeaders(res: ServerResponse, headers: Record<string, string>): void {
	for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}
