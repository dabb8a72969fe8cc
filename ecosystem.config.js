/**
 * pm2 deployment of Chatcast on one machine (after `npm run build`):
 *
 *   pm2 start ecosystem.config.js        # EDGE_INSTANCES edges on PORT (+ cores, if any)
 *   pm2 reload chatcast-edge             # zero-loss rolling restart of the edges
 *   pm2 scale chatcast-edge 4
 *
 * - chatcast-edge: every service (api, broadcast, ingest, history), in pm2 cluster mode so every instance
 *   shares PORT (the cluster master hands each new connection to one instance). Streams live on an edge,
 *   and an edge stores what it accepts itself: Moleculer prefers a local service (registry.preferLocal),
 *   so a publish never waits for an answer over MQTT; only the fan-out to the other edges crosses it.
 *   Numbering and idempotency are atomic in Redis, so any number of edges may store at once.
 * - chatcast-core: ingest + history only, for callers on the bus without a local history (the REPL's
 *   calls are served by the edges too). Not started unless CORE_INSTANCES > 0 — except without Redis:
 *   in-memory history belongs to one process, so then the edges run api + broadcast and one core holds it.
 * All of them join over MQTT_URL and REDIS_URL; EDGE_MQTT_URL / CORE_MQTT_URL, if set, give each app its own MQTT user
 * (ansible/). Variables come from this environment or from the env file CHATCAST_ENV_FILE (default .env, mode 0600;
 * see .env.example); the environment wins.
 */
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const envFile = process.env.CHATCAST_ENV_FILE || path.join(__dirname, ".env");
const count = (value, fallback) =>
	Number.isInteger(Number(value)) && Number(value) >= 0 && value !== "" ? Number(value) : fallback;

/** Any of the ways to name Redis (src/config.ts). */
const REDIS_VARIABLES = ["REDIS_URL", "REDIS_SENTINELS", "REDIS_CLUSTER_NODES"];

/** Whether Redis is configured here or in the env file Node will load (an unreadable file counts as unset). */
const hasRedis = () => {
	if (REDIS_VARIABLES.some(name => process.env[name])) return true;
	try {
		return /^\s*(REDIS_URL|REDIS_SENTINELS|REDIS_CLUSTER_NODES)\s*=\s*\S/m.test(fs.readFileSync(envFile, "utf8"));
	} catch {
		return false;
	}
};

/** Metrics port of instance 0 of an app; instance n uses base + n (src/config.ts). "" turns metrics off. */
const metricsPort = (value, fallback) => (value === "" ? {} : { METRICS_PORT: value || fallback });

/** An app's own MQTT URL (its broker user, see ansible/) or the shared MQTT_URL; neither: the embedded broker. */
const mqttUrl = value => (value || process.env.MQTT_URL ? { MQTT_URL: value || process.env.MQTT_URL } : {});

const common = {
	script: "dist/src/bin/start.js",
	cwd: __dirname,
	// Loaded by Node itself; variables already in the environment take precedence.
	node_args: [`--env-file-if-exists=${envFile}`],
	// Graceful stop: streams are told to reconnect elsewhere and ended; src/bin/start.ts gives up after 8 s.
	kill_timeout: 10_000,
	// A (re)started process counts as up only when it serves: it sends "ready" once it can reach history.
	wait_ready: true,
	// Exit status 2 is a refused configuration (src/config.ts): restarting cannot fix it.
	stop_exit_codes: [2],
	listen_timeout: 40_000,
	max_memory_restart: "1G",
	time: false,
	merge_logs: true,
};

const redis = hasRedis();
// pm2 reads `instances: 0` as "one per CPU": an app with no instances is left out instead.
const cores = redis ? count(process.env.CORE_INSTANCES, 0) : 1;

module.exports = {
	apps: [
		{
			...common,
			name: "chatcast-edge",
			exec_mode: "cluster",
			instances: count(process.env.EDGE_INSTANCES, 0) || os.availableParallelism(),
			env: {
				NODE_ENV: "production",
				SERVICES: redis ? "api,broadcast,ingest,history" : "api,broadcast",
				HOST: process.env.HOST || "0.0.0.0",
				...mqttUrl(process.env.EDGE_MQTT_URL),
				...metricsPort(process.env.EDGE_METRICS_PORT, "9100"),
			},
		},
		...(cores > 0
			? [
					{
						...common,
						name: "chatcast-core",
						exec_mode: "fork",
						instances: cores,
						env: {
							NODE_ENV: "production",
							SERVICES: "ingest,history",
							...mqttUrl(process.env.CORE_MQTT_URL),
							...metricsPort(process.env.CORE_METRICS_PORT, "9200"),
						},
					},
				]
			: []),
	],
};
