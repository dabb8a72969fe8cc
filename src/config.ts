/**
 * Chatcast's configuration, read once from environment variables.
 * Every variable is listed in `.env.example` and in the README's configuration table.
 *
 * @example
 *   const config = loadConfig(process.env);
 *   config.historyLimit; // 1000 unless HISTORY_LIMIT says otherwise
 */
import fs from "node:fs";
import path from "node:path";
import type { AuthOptions } from "./auth/verifier";
import { PAGE_MAX_BYTES } from "./history-store";
import { MEMORY_HISTORY_MAX_BYTES } from "./memory-history";
import { parseBrokerList } from "./mqtt-brokers";
import { parseOrigins } from "./origin-policy";
import type { RateLimit } from "./rate-limiter";
import { DEFAULT_REPLAY_CACHE } from "./replay-cache";
import type { RedisNode, RedisTarget } from "./redis-connection";
import type { StreamLimitOptions } from "./stream-limits";

export const SERVICE_NAMES = ["api", "ingest", "history", "broadcast"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ChatcastConfig {
	/** HTTP port of the gateway (0 = any free port). */
	port: number;
	/** Address the gateway listens on. */
	host: string;
	/**
	 * MQTT_URL: the broker, or the nodes of a clustered broker (comma-separated), the transporter connects
	 * to, failing over to the next when its broker goes away; undefined = start the embedded MQTT broker.
	 */
	mqttUrls?: string[];
	/**
	 * Separator of Moleculer's MQTT topics. "/" makes each part a topic level, so a broker ACL can limit a
	 * user to `MOL-<namespace>/#` (ansible/ does); "." (Moleculer's default) makes every topic one level.
	 * All nodes of a cluster must agree.
	 */
	mqttTopicSeparator: "/" | ".";
	/** Port the embedded broker tries first (it falls back to a free port if taken). */
	embeddedMqttPort: number;
	/**
	 * Where history and the shared rate limits live: one of REDIS_URL, REDIS_SENTINELS or
	 * REDIS_CLUSTER_NODES; undefined = in-memory history (single process only).
	 */
	redis?: RedisTarget;
	/** A publish is accepted only once this many replicas confirmed it (`WAIT`); 0 = on the master's word. */
	redisMinReplicas: number;
	/** How long a publish waits for those replicas before it is answered 503 OUTCOME_UNKNOWN. */
	redisWaitTimeoutMs: number;
	/** Moleculer namespace; also the Redis key prefix, so several deployments can share a broker and a Redis. */
	namespace: string;
	/** Unique node id; undefined: `<namespace>-<8 random hex digits>` (nothing about the host). */
	nodeID?: string;
	historyLimit: number;
	historyTtlSeconds: number;
	/** Bytes of message JSON one history page may hold (a page always holds at least one message). */
	historyPageMaxBytes: number;
	/** Without Redis: bytes of message JSON the in-memory history keeps over all channels before it refuses appends. */
	memoryHistoryMaxBytes: number;
	maxMessageBytes: number;
	sseHeartbeatMs: number;
	/** `retry:` hint sent when a stream opens. */
	sseRetryMs: number;
	/** How often a broadcast node checks history's last seqs for messages whose packets were lost. */
	sseResyncMs: number;
	/** A subscriber whose unsent data grows past this is disconnected (it resumes with Last-Event-ID). */
	sseMaxBufferedBytes: number;
	/** Replay pages a broadcast node keeps for other resumes of the same range: bytes over all channels, and for how long. */
	replayCache: { maxBytes: number; ttlMs: number };
	logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
	/** `json` (pino, one object per line) for production; `text` for people. */
	logFormat: "json" | "text";
	/** Port of this process's Prometheus endpoint; undefined = no metrics. */
	metricsPort?: number;
	/** Address the metrics endpoint listens on. */
	metricsHost: string;
	/** Also publish the host's name, user, addresses and the process arguments (Moleculer's full OS metrics). */
	metricsDetailed: boolean;
	/**
	 * The cluster's shared secret: every transporter packet is sealed with it (src/bus-auth.ts). Required
	 * with MQTT_URL; the embedded broker's launcher makes one.
	 */
	clusterSecret?: string;
	/** The previous secret, still accepted (never used to sign) while a rotation rolls out. */
	clusterSecretPrevious?: string;
	services: ServiceName[];
	/** Folder served as the demo page. */
	publicDir: string;
	/** Other origins whose pages may call the API from a browser (same origin always may). */
	corsOrigins: string[];
	/** Addresses of reverse proxies whose `X-Forwarded-For` is believed (src/client-address.ts). */
	trustProxy: string[];
	/** Token buckets per client address, shared over Redis when Redis is configured; undefined = off. */
	rateLimits?: { publish: RateLimit; streamOpen: RateLimit };
	/** Open streams this edge, one client address, and one client's distinct channels may hold. */
	streamLimits: StreamLimitOptions;
	/** Longest a client may take to send its request headers, and its whole request. */
	headersTimeoutMs: number;
	requestTimeoutMs: number;
	/** Token verification (AUTH_JWT_SECRET or AUTH_JWKS_URL); undefined = auth off, anyone may publish and read. */
	auth?: AuthOptions;
}

type Env = Record<string, string | undefined>;

/**
 * Every bad variable at once; the launchers print `message` (no stack trace) and exit with status 2.
 *
 * @example
 *   try { loadConfig(process.env) } catch (err) { if (err instanceof ConfigError) exitWithConfigError(err) }
 */
export class ConfigError extends Error {
	constructor(readonly problems: string[]) {
		super(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
		this.name = "ConfigError";
	}
}

/** The exit status of a process refused by its configuration (pm2's ecosystem does not restart on it). */
export const CONFIG_ERROR_EXIT_CODE = 2;

/**
 * Parses the environment for a launcher: on a bad one, prints every problem and exits with status 2.
 *
 * @example
 *   const config = loadConfigOrExit(process.env);
 */
export function loadConfigOrExit(env: Env): ChatcastConfig {
	try {
		return loadConfig(env);
	} catch (err) {
		if (!(err instanceof ConfigError)) throw err;
		console.error(err.message);
		process.exit(CONFIG_ERROR_EXIT_CODE);
	}
}

/** 32 characters: a hex-encoded 128-bit secret at least. */
const MIN_SECRET_LENGTH = 32;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** Parses and checks the environment; throws one error listing every bad variable. */
export function loadConfig(env: Env): ChatcastConfig {
	const problems: string[] = [];
	const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
		const raw = env[name];
		if (raw === undefined || raw.trim() === "") return fallback;
		const value = Number(raw);
		if (!Number.isInteger(value) || value < min || value > max) {
			problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
			return fallback;
		}
		return value;
	};
	const rate = (name: string, fallback: number): number => {
		const raw = env[name];
		if (raw === undefined || raw.trim() === "") return fallback;
		const value = Number(raw);
		if (!Number.isFinite(value) || value <= 0 || value > 1_000_000) {
			problems.push(`${name} must be a number of actions per second above 0 (got "${raw}")`);
			return fallback;
		}
		return value;
	};
	const text = (name: string): string | undefined => {
		const raw = env[name]?.trim();
		return raw ? raw : undefined;
	};
	const url = (name: string, protocols: string[]): string | undefined => {
		const raw = text(name);
		if (raw === undefined) return undefined;
		let protocol = "";
		try {
			protocol = new URL(raw).protocol;
		} catch {
			// reported below
		}
		if (!protocols.includes(protocol))
			problems.push(`${name} must be a URL starting with ${protocols.map(p => `${p}//`).join(" or ")}`);
		return raw;
	};

	const logLevel = (text("LOG_LEVEL") ?? "info") as ChatcastConfig["logLevel"];
	if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);

	const services = parseServices(text("SERVICES"), problems);

	const origins = parseOrigins(env.CORS_ORIGINS);
	if (origins.invalid.length > 0) {
		problems.push(`CORS_ORIGINS must list origins such as https://app.example.com (got ${origins.invalid.join(", ")})`);
	}
	const rateLimitsSetting = text("RATE_LIMITS") ?? "on";
	if (rateLimitsSetting !== "on" && rateLimitsSetting !== "off") problems.push("RATE_LIMITS must be on or off");
	const rateLimitsOn = rateLimitsSetting !== "off";

	const logFormat = (text("LOG_FORMAT") ?? (env.NODE_ENV === "production" ? "json" : "text")) as ChatcastConfig["logFormat"];
	if (logFormat !== "json" && logFormat !== "text") problems.push("LOG_FORMAT must be json or text");

	// Under pm2 every instance of an app gets the same environment: instance n serves metrics on METRICS_PORT + n.
	const metricsBase = env.METRICS_PORT?.trim() ? int("METRICS_PORT", 0, 1, 65535) : undefined;
	const metricsPort = metricsBase === undefined ? undefined : metricsBase + int("NODE_APP_INSTANCE", 0, 0, 1000);

	const config: ChatcastConfig = {
		port: int("PORT", 3000, 0, 65535),
		host: text("HOST") ?? "127.0.0.1",
		mqttUrls: brokerList(text("MQTT_URL"), problems),
		mqttTopicSeparator: (text("MQTT_TOPIC_SEPARATOR") ?? "/") as ChatcastConfig["mqttTopicSeparator"],
		embeddedMqttPort: int("EMBEDDED_MQTT_PORT", 1884, 0, 65535),
		redis: parseRedis(env, text, url("REDIS_URL", ["redis:", "rediss:"]), problems),
		redisMinReplicas: int("REDIS_MIN_REPLICAS", 0, 0, 100),
		redisWaitTimeoutMs: int("REDIS_WAIT_TIMEOUT_MS", 1000, 1, 60_000),
		namespace: text("NAMESPACE") ?? "chatcast",
		nodeID: text("NODE_ID"),
		historyLimit: int("HISTORY_LIMIT", 1000, 1, 1_000_000),
		historyTtlSeconds: int("HISTORY_TTL", 24 * 3600, 1),
		historyPageMaxBytes: int("HISTORY_PAGE_MAX_BYTES", PAGE_MAX_BYTES, 1024),
		memoryHistoryMaxBytes: int("MEMORY_HISTORY_MAX_BYTES", MEMORY_HISTORY_MAX_BYTES, 65_536),
		maxMessageBytes: int("MAX_MESSAGE_BYTES", 4096, 1, 1024 * 1024),
		sseHeartbeatMs: int("SSE_HEARTBEAT_MS", 15_000, 100),
		sseRetryMs: int("SSE_RETRY_MS", 2000, 0),
		sseResyncMs: int("SSE_RESYNC_MS", 5000, 100),
		sseMaxBufferedBytes: int("SSE_MAX_BUFFERED_BYTES", 1024 * 1024, 1024),
		replayCache: {
			maxBytes: int("REPLAY_CACHE_MAX_BYTES", DEFAULT_REPLAY_CACHE.maxBytes, 0, 1024 ** 3),
			ttlMs: int("REPLAY_CACHE_MS", DEFAULT_REPLAY_CACHE.ttlMs, 0, 60_000),
		},
		logLevel,
		logFormat,
		metricsPort,
		metricsHost: text("METRICS_HOST") ?? "127.0.0.1",
		metricsDetailed: text("METRICS_DETAILED") === "true",
		corsOrigins: origins.origins,
		trustProxy: (text("TRUST_PROXY") ?? "")
			.split(",")
			.map(s => s.trim())
			.filter(Boolean),
		rateLimits: rateLimitsOn
			? {
					publish: { burst: int("PUBLISH_BURST", 30, 1), perSecond: rate("PUBLISH_RATE", 3) },
					streamOpen: { burst: int("STREAM_OPEN_BURST", 20, 1), perSecond: rate("STREAM_OPEN_RATE", 1) },
				}
			: undefined,
		streamLimits: {
			perEdge: int("STREAMS_PER_EDGE", 10_000, 1),
			perClient: int("STREAMS_PER_CLIENT", 20, 1),
			channelsPerClient: int("STREAM_CHANNELS_PER_CLIENT", 10, 1),
		},
		headersTimeoutMs: int("HTTP_HEADERS_TIMEOUT_MS", 10_000, 100, 10_000),
		requestTimeoutMs: int("HTTP_REQUEST_TIMEOUT_MS", 10_000, 100, 10_000),
		clusterSecret: text("CLUSTER_SECRET"),
		clusterSecretPrevious: text("CLUSTER_SECRET_PREVIOUS"),
		services,
		publicDir: text("PUBLIC_DIR") ?? path.join(projectRoot(), "public"),
		auth: parseAuth(text, url, problems),
	};
	if (config.redisMinReplicas > 0 && !config.redis)
		problems.push("REDIS_MIN_REPLICAS needs Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)");
	if (config.mqttTopicSeparator !== "/" && config.mqttTopicSeparator !== ".")
		problems.push('MQTT_TOPIC_SEPARATOR must be "/" or "."');
	// Both end up in MQTT topic names, where "+", "#" and "/" would be wildcards or levels.
	if (!/^[A-Za-z0-9_-]{1,64}$/.test(config.namespace)) problems.push("NAMESPACE must be 1-64 letters, digits, '-' or '_'");
	if (config.nodeID !== undefined && !/^[A-Za-z0-9_.-]{1,128}$/.test(config.nodeID))
		problems.push("NODE_ID must be 1-128 letters, digits, '.', '-' or '_'");
	for (const [name, secret] of [
		["CLUSTER_SECRET", config.clusterSecret],
		["CLUSTER_SECRET_PREVIOUS", config.clusterSecretPrevious],
	] as const) {
		if (secret !== undefined && secret.length < MIN_SECRET_LENGTH) {
			problems.push(`${name} must be at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 32)`);
		}
	}
	if (config.mqttUrls && !config.clusterSecret) {
		problems.push(
			"CLUSTER_SECRET must be set with MQTT_URL: every node of the cluster seals its packets with it (e.g. openssl rand -hex 32)",
		);
	}
	if (problems.length > 0) throw new ConfigError(problems);
	return config;
}

const AUTH_MODES = ["publish", "all"] as const;

/** AUTH_*: a secret or a JWKS URL turns auth on; the other variables refine it and mean nothing without one. */
function parseAuth(
	text: (name: string) => string | undefined,
	url: (name: string, protocols: string[]) => string | undefined,
	problems: string[],
): AuthOptions | undefined {
	const secret = text("AUTH_JWT_SECRET");
	const jwksUrl = url("AUTH_JWKS_URL", ["https:", "http:"]);
	const mode = text("AUTH_MODE") ?? "publish";
	const isMode = (value: string): value is AuthOptions["mode"] => (AUTH_MODES as readonly string[]).includes(value);
	if (!isMode(mode)) problems.push(`AUTH_MODE must be ${AUTH_MODES.join(" or ")}`);
	if (secret !== undefined && secret.length < MIN_SECRET_LENGTH)
		problems.push(`AUTH_JWT_SECRET must be at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 32)`);
	if (secret !== undefined && jwksUrl !== undefined) problems.push("Set AUTH_JWT_SECRET or AUTH_JWKS_URL, not both");
	if (secret === undefined && jwksUrl === undefined) {
		const stray = ["AUTH_MODE", "AUTH_ISSUER", "AUTH_AUDIENCE"].filter(name => text(name) !== undefined);
		if (stray.length > 0) problems.push(`${stray.join(", ")} need AUTH_JWT_SECRET or AUTH_JWKS_URL`);
		return undefined;
	}
	return {
		...(secret !== undefined ? { secret } : { jwksUrl }),
		issuer: text("AUTH_ISSUER"),
		audience: text("AUTH_AUDIENCE"),
		mode: isMode(mode) ? mode : "publish",
	};
}

/** REDIS_URL, REDIS_SENTINELS (+ REDIS_SENTINEL_NAME) or REDIS_CLUSTER_NODES: at most one of them. */
function parseRedis(
	env: Env,
	text: (name: string) => string | undefined,
	url: string | undefined,
	problems: string[],
): RedisTarget | undefined {
	const sentinels = text("REDIS_SENTINELS");
	const clusterNodes = text("REDIS_CLUSTER_NODES");
	const given = [url && "REDIS_URL", sentinels && "REDIS_SENTINELS", clusterNodes && "REDIS_CLUSTER_NODES"].filter(Boolean);
	if (given.length > 1) problems.push(`Set one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES (got ${given.join(", ")})`);
	const others = ["REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_TLS", "REDIS_SENTINEL_NAME", "REDIS_SENTINEL_PASSWORD"];
	if (url || (!sentinels && !clusterNodes)) {
		const stray = others.filter(name => text(name) !== undefined);
		if (stray.length > 0) {
			problems.push(`${stray.join(", ")} apply to REDIS_SENTINELS or REDIS_CLUSTER_NODES only (a REDIS_URL carries its own)`);
		}
		return url === undefined ? undefined : { kind: "server", url };
	}
	const tlsSetting = text("REDIS_TLS") ?? "false";
	if (tlsSetting !== "true" && tlsSetting !== "false") problems.push("REDIS_TLS must be true or false");
	// Passwords are taken as they are: a space may belong to one.
	const credentials = { username: text("REDIS_USERNAME"), password: env.REDIS_PASSWORD || undefined, tls: tlsSetting === "true" };
	if (sentinels) {
		const name = text("REDIS_SENTINEL_NAME");
		if (!name) problems.push("REDIS_SENTINEL_NAME must name the master the Sentinels watch (e.g. mymaster)");
		return {
			kind: "sentinel",
			sentinels: parseNodes("REDIS_SENTINELS", sentinels, problems),
			name: name ?? "",
			sentinelPassword: env.REDIS_SENTINEL_PASSWORD || undefined,
			...credentials,
		};
	}
	if (text("REDIS_SENTINEL_NAME") || text("REDIS_SENTINEL_PASSWORD"))
		problems.push("REDIS_SENTINEL_NAME and REDIS_SENTINEL_PASSWORD apply to REDIS_SENTINELS only");
	return { kind: "cluster", nodes: parseNodes("REDIS_CLUSTER_NODES", clusterNodes ?? "", problems), ...credentials };
}

/** `host:port,host:port`, IPv6 hosts in brackets (`[::1]:26379`). */
function parseNodes(name: string, raw: string, problems: string[]): RedisNode[] {
	const nodes: RedisNode[] = [];
	for (const part of raw.split(",").map(s => s.trim())) {
		const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(part);
		const port = Number(match?.[2]);
		if (!match || port < 1 || port > 65535) {
			problems.push(`${name} must list host:port pairs separated by commas (got "${part}")`);
			continue;
		}
		nodes.push({ host: match[1].replace(/^\[|\]$/g, ""), port });
	}
	return nodes;
}

function brokerList(raw: string | undefined, problems: string[]): string[] | undefined {
	if (raw === undefined) return undefined;
	const brokers = parseBrokerList(raw);
	problems.push(...brokers.problems);
	return brokers.urls;
}

function parseServices(raw: string | undefined, problems: string[]): ServiceName[] {
	if (!raw || raw === "all") return [...SERVICE_NAMES];
	const names = raw
		.split(",")
		.map(s => s.trim())
		.filter(Boolean);
	const unknown = names.filter(n => !(SERVICE_NAMES as readonly string[]).includes(n));
	if (unknown.length > 0) problems.push(`SERVICES has unknown names: ${unknown.join(", ")} (known: ${SERVICE_NAMES.join(", ")})`);
	return SERVICE_NAMES.filter(n => names.includes(n));
}

/** The folder holding package.json, whether we run from `src/` (tests) or `dist/src/` (built). */
export function projectRoot(): string {
	let dir = __dirname;
	while (!fs.existsSync(path.join(dir, "package.json"))) {
		const parent = path.dirname(dir);
		if (parent === dir) throw new Error(`package.json not found above ${__dirname}`);
		dir = parent;
	}
	return dir;
}
