/**
 * Chatcast, started from the build of a checkout (`dist/src/bin/start.js` under `dir`, so the same bench can
 * measure another worktree's build), in three topologies:
 * - `chatcast`: the embedded default, `npm start` as is: one process, embedded MQTT broker, history in memory;
 * - `chatcast-redis`: the same all-in-one process with history in the bench's Redis;
 * - `chatcast-pm2`: the apps of the checkout's `ecosystem.config.js` (EDGE_INSTANCES=2, CORE_INSTANCES as shipped) with the
 *   environment it gives them, on the bench's Redis and its own Mosquitto (`set_tcp_nodelay true`); without pm2's
 *   daemon: cluster apps run under a `node:cluster` primary (bench/support/cluster-primary.ts), as pm2 does.
 * Every node runs with rate limits off and stream limits raised (the bench is one client address).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { type OwnMosquitto, mosquittoMissing, startMosquitto } from "../support/mosquitto";
import { freePort, readyLine, stopChild, withFileLimit } from "../support/processes";
import type { Peer, RunningPeer } from "./peer";

const CLUSTER_PRIMARY = path.resolve(__dirname, "../support/cluster-primary.js");

interface App {
	name: string;
	script: string;
	cwd: string;
	node_args?: string[];
	exec_mode: "cluster" | "fork";
	instances: number;
	env: Record<string, string>;
}

/** What every Chatcast node of the bench gets on top of its topology's environment. */
function benchEnv(namespace: string): Record<string, string> {
	return {
		PATH: process.env.PATH ?? "",
		NODE_ENV: "production",
		NAMESPACE: namespace,
		LOG_LEVEL: "warn",
		RATE_LIMITS: "off",
		STREAMS_PER_CLIENT: "100000",
		STREAM_CHANNELS_PER_CLIENT: "100000",
		STREAMS_PER_EDGE: "100000",
	};
}

/** Spawns `node args` in `cwd` (file limit raised) and waits for the JSON after `marker` on its stdout. */
async function startNode(
	cwd: string,
	args: string[],
	env: Record<string, string>,
	marker: string,
): Promise<{ child: ChildProcess; port: number | null }> {
	const [command, argv] = withFileLimit(process.execPath, args);
	const child = spawn(command, argv, { cwd, env, stdio: ["ignore", "pipe", "inherit"] });
	try {
		const { port } = await readyLine<{ port: number | null }>(child, marker);
		return { child, port };
	} catch (err) {
		await stopChild(child, "SIGKILL");
		throw err;
	}
}

/** The apps of `dir`'s ecosystem.config.js as pm2 would read them with `env` in its environment. */
function ecosystemApps(dir: string, env: Record<string, string>): App[] {
	const file = path.join(dir, "ecosystem.config.js");
	const run = spawnSync(process.execPath, ["-e", "console.log(JSON.stringify(require(process.argv[1]).apps))", file], {
		env: { PATH: process.env.PATH ?? "", ...env },
		encoding: "utf8",
	});
	if (run.status !== 0) throw new Error(`cannot read ${file}: ${run.stderr}`);
	return JSON.parse(run.stdout) as App[];
}

/** Chatcast nodes started by the bench, stopped in reverse order. */
class Nodes {
	readonly children: ChildProcess[] = [];
	mosquitto: OwnMosquitto | undefined;

	get pids(): number[] {
		return [...this.children.flatMap(c => (c.pid === undefined ? [] : [c.pid])), ...(this.mosquitto ? [this.mosquitto.pid] : [])];
	}

	async stop(): Promise<void> {
		for (const child of [...this.children].reverse()) await stopChild(child);
		await this.mosquitto?.stop();
	}
}

/** Environment of an ecosystem app's process: the bench's, the app's, and the cluster's shared parts. */
function appEnv(app: App, shared: Record<string, string>, namespace: string): Record<string, string> {
	return { ...benchEnv(namespace), ...app.env, ...shared };
}

/**
 * Starts the ecosystem's apps: fork apps (the core) first, each instance a process; cluster apps under a primary.
 * `cores`: CORE_INSTANCES (undefined: the file's default, i.e. the shipped topology).
 */
async function startEcosystem(
	dir: string,
	redisUrl: string,
	edges: number,
	separateEdges: boolean,
	cores?: number,
	brokerUrls?: string[],
): Promise<Nodes & { ports: number[] }> {
	const nodes = Object.assign(new Nodes(), { ports: [] as number[] });
	try {
		if (!brokerUrls) nodes.mosquitto = await startMosquitto();
		const urls = brokerUrls ?? [nodes.mosquitto?.url ?? ""];
		// Process n connects to broker n first (then the others in turn): the clients spread over the nodes.
		const mqttUrlOf = (n: number): string => [...urls.slice(n % urls.length), ...urls.slice(0, n % urls.length)].join(",");
		const namespace = `bench-${randomBytes(4).toString("hex")}`;
		const shared = { REDIS_URL: redisUrl, MQTT_URL: mqttUrlOf(0), CLUSTER_SECRET: randomBytes(32).toString("hex") };
		const metrics = separateEdges
			? { EDGE_METRICS_PORT: "", CORE_METRICS_PORT: "" }
			: { EDGE_METRICS_PORT: String(await freePort()), CORE_METRICS_PORT: String(await freePort()) };
		// REDIS_URL too: without it the file ships edges without ingest/history and a core (its no-Redis layout).
		const apps = ecosystemApps(dir, {
			REDIS_URL: redisUrl,
			MQTT_URL: shared.MQTT_URL,
			HOST: "127.0.0.1",
			EDGE_INSTANCES: String(edges),
			...(cores === undefined ? {} : { CORE_INSTANCES: String(cores) }),
			...metrics,
		});
		const ordered = [...apps.filter(a => a.exec_mode !== "cluster"), ...apps.filter(a => a.exec_mode === "cluster")];
		for (const app of ordered) {
			const cwd = app.cwd || dir;
			const env = appEnv(app, shared, namespace);
			if (app.exec_mode === "cluster" && !separateEdges) {
				const port = await freePort();
				const started = await startNode(
					cwd,
					[CLUSTER_PRIMARY, app.script, String(app.instances)],
					{ ...env, PORT: String(port) },
					"CLUSTER_READY",
				);
				nodes.children.push(started.child);
				nodes.ports.push(port);
				continue;
			}
			for (let slot = 0; slot < app.instances; slot++) {
				const started = await startNode(
					cwd,
					[app.script],
					{ ...env, MQTT_URL: mqttUrlOf(nodes.children.length), PORT: "0", NODE_APP_INSTANCE: String(slot) },
					"CHATCAST_READY",
				);
				nodes.children.push(started.child);
				if (started.port !== null) nodes.ports.push(started.port);
			}
		}
		return nodes;
	} catch (err) {
		await nodes.stop();
		throw err;
	}
}

/**
 * The shipped topology with `edges` edge processes, each on its own port (scenario H sends a channel's
 * subscribers to one edge), plus the broker's URL for its `$SYS` counters. On the bench's own Mosquitto,
 * or on the nodes of a clustered broker (`brokerUrls`: edge n connects to node n first, bench/brokers.ts).
 *
 * @example const cluster = await startSeparateEdges(dir, redisUrl, 8); … await cluster.stop();
 */
export async function startSeparateEdges(
	dir: string,
	redisUrl: string,
	edges: number,
	brokerUrls?: string[],
): Promise<{ ports: number[]; pids: number[]; brokerUrl: string; stop(): Promise<void> }> {
	const nodes = await startEcosystem(dir, redisUrl, edges, true, 1, brokerUrls);
	return { ports: nodes.ports, pids: nodes.pids, brokerUrl: nodes.mosquitto?.url ?? "", stop: () => nodes.stop() };
}

/** Why `dir` cannot be benched. */
function notBuilt(dir: string): string | undefined {
	const start = path.join(dir, "dist/src/bin/start.js");
	return existsSync(start) ? undefined : `${start} is not built (npm run build in ${dir})`;
}

/**
 * The three Chatcast peers of the checkout at `dir`; `suffix` tells checkouts apart in the tables.
 *
 * @example const [embedded, redis, pm2] = chatcastPeers("/work/main", "");
 */
export function chatcastPeers(dir: string, suffix: string): Peer[] {
	const allInOne = (redisUrl: string | undefined): Promise<RunningPeer> =>
		startNode(
			dir,
			["dist/src/bin/start.js"],
			{
				...benchEnv(`bench-${randomBytes(4).toString("hex")}`),
				PORT: "0",
				EMBEDDED_MQTT_PORT: "0",
				...(redisUrl ? { REDIS_URL: redisUrl } : {}),
			},
			"CHATCAST_READY",
		).then(({ child, port }) => {
			if (child.pid === undefined || port === null) throw new Error("Chatcast has no pid or port");
			return { port, pids: [child.pid], stop: () => stopChild(child) };
		});
	return [
		{
			id: "chatcast",
			name: `Chatcast embedded${suffix}`,
			family: "chatcast",
			store: "memory",
			missing: () => notBuilt(dir),
			start: () => allInOne(undefined),
		},
		{
			id: "chatcast-redis",
			name: `Chatcast Redis${suffix}`,
			family: "chatcast",
			store: "redis",
			missing: () => notBuilt(dir),
			start: redisUrl => allInOne(redisUrl),
		},
		{
			id: "chatcast-pm2",
			name: `Chatcast pm2${suffix}`,
			family: "chatcast",
			store: "redis",
			missing: () => notBuilt(dir) ?? mosquittoMissing(),
			async start(redisUrl) {
				const nodes = await startEcosystem(dir, redisUrl, 2, false);
				return { port: nodes.ports[0], pids: nodes.pids, stop: () => nodes.stop() };
			},
		},
	];
}
