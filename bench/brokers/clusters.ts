/**
 * The MQTT brokers bench/brokers.ts compares, each started as the bench's own (free loopback ports,
 * temporary folders, stopped by PID): Mosquitto (one node, the baseline), NATS (3 nodes, MQTT on
 * JetStream, test/support/nats-cluster.ts), RabbitMQ (3 nodes, MQTT plugin, never the system's node on
 * 5672) and aedes × 3 sharing state through Redis (mqemitter-redis, aedes-persistence-redis, loaded from
 * AEDES_REDIS_DIR). A broker that cannot run here says why (`missing`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { natsServerMissing, SESSION_STREAM, startNatsCluster } from "../../test/support/nats-cluster";
import { mosquittoMissing, startMosquitto } from "../support/mosquitto";
import { freePort, readyLine, stopChild, waitForPort } from "../support/processes";

export interface RunningBrokers {
	/** One MQTT URL per node. */
	urls: string[];
	/** Root PIDs of the broker's processes (their CPU and memory are the broker's). */
	pids(): number[];
	/** The node whose loss hurts most (NATS: the session stream's leader); edge 0 connects to it first. */
	worstNode(): Promise<number>;
	/** SIGKILLs node `i` (and waits for its exit). */
	kill(i: number): Promise<void>;
	stop(): Promise<void>;
}

export interface BrokerKind {
	id: string;
	name: string;
	nodes: number;
	missing(): string | undefined;
	/** `redisUrl`: the bench's own Redis (aedes shares its state there). */
	start(redisUrl: string): Promise<RunningBrokers>;
}

const RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const RABBITMQ_MQTT_PLUGIN = "/usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8/plugins/rabbitmq_mqtt-3.10.8";
export const AEDES_REDIS_DIR = process.env.AEDES_REDIS_DIR ?? "/tmp/aedes-redis";
const AEDES_NODE = path.resolve(__dirname, "aedes-redis-node.js");

/** Resolves once an MQTT client connects to `url` and a packet it publishes comes back through `echoUrl`. */
async function answersAcross(url: string, echoUrl: string): Promise<boolean> {
	const options = { reconnectPeriod: 0, connectTimeout: 3000 };
	const [sub, pub] = await Promise.all([
		mqtt.connectAsync(echoUrl, options, false).catch(() => undefined),
		mqtt.connectAsync(url, options, false).catch(() => undefined),
	]);
	try {
		if (!sub || !pub) return false;
		const topic = `bench/ready/${Math.random().toString(16).slice(2)}`;
		await sub.subscribeAsync(topic);
		const got = new Promise<boolean>(resolve => {
			sub.on("message", () => resolve(true));
			setTimeout(() => resolve(false), 1000);
		});
		await pub.publishAsync(topic, "ready");
		return await got;
	} finally {
		await Promise.all([sub?.endAsync(true), pub?.endAsync(true)]);
	}
}

/** Waits until every node passes a packet to the next one (the cluster is formed). */
async function waitForCluster(urls: string[], timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (let i = 0; i < urls.length; i++) {
		const next = urls[(i + 1) % urls.length];
		while (!(await answersAcross(urls[i], next))) {
			if (Date.now() > deadline) throw new Error(`${urls[i]} → ${next}: no packet across the cluster in ${timeoutMs} ms`);
			await new Promise(r => setTimeout(r, 250));
		}
	}
}

const killChild = async (child: ChildProcess | undefined): Promise<void> => {
	if (child) await stopChild(child, "SIGKILL");
};

export const mosquitto: BrokerKind = {
	id: "mosquitto",
	name: "Mosquitto ×1",
	nodes: 1,
	missing: mosquittoMissing,
	async start() {
		const broker = await startMosquitto();
		return {
			urls: [broker.url],
			pids: () => [broker.pid],
			worstNode: async () => 0,
			kill: () => broker.stop(),
			stop: () => broker.stop(),
		};
	},
};

export const nats: BrokerKind = {
	id: "nats",
	name: "NATS ×3",
	nodes: 3,
	missing: natsServerMissing,
	async start() {
		const cluster = await startNatsCluster(3);
		await waitForCluster(cluster.mqttUrls, 30_000);
		return {
			urls: cluster.mqttUrls,
			pids: () => cluster.nodes.flatMap(node => (node.pid === undefined ? [] : [node.pid])),
			worstNode: () => cluster.streamLeader(SESSION_STREAM),
			kill: i => cluster.nodes[i].kill(),
			stop: () => cluster.stop(),
		};
	},
};

/**
 * RabbitMQ nodes of the bench's own (`bench<i>-<random>@localhost`, own cookie, ports, Mnesia and plugin
 * file): joined by classic-config peer discovery, MQTT plugin enabled by file (offline).
 */
export const rabbitmq: BrokerKind = {
	id: "rabbitmq",
	name: "RabbitMQ ×3",
	nodes: 3,
	missing: () =>
		!existsSync(RABBITMQ_SERVER)
			? `no ${RABBITMQ_SERVER} (Debian: rabbitmq-server)`
			: !existsSync(RABBITMQ_MQTT_PLUGIN)
				? `no MQTT plugin at ${RABBITMQ_MQTT_PLUGIN}`
				: undefined,
	async start() {
		const dir = mkdtempSync(path.join(os.tmpdir(), "bench-rabbitmq-"));
		const tag = path
			.basename(dir)
			.slice(-6)
			.toLowerCase()
			.replace(/[^a-z0-9]/g, "x");
		const names = [1, 2, 3].map(i => `bench${i}${tag}@localhost`);
		const children: (ChildProcess | undefined)[] = [];
		const ports: { amqp: number; dist: number; mqtt: number }[] = [];
		for (let i = 0; i < 3; i++) ports.push({ amqp: await freePort(), dist: await freePort(), mqtt: await freePort() });
		const startNode = (i: number): ChildProcess => {
			const base = path.join(dir, `n${i}`);
			const home = path.join(base, "home");
			mkdirSync(home, { recursive: true });
			writeFileSync(path.join(home, ".erlang.cookie"), `CHATCASTBENCH${tag.toUpperCase()}`, { mode: 0o400 });
			writeFileSync(path.join(base, "enabled_plugins"), "[rabbitmq_mqtt].\n");
			writeFileSync(
				path.join(base, "rabbitmq.conf"),
				[
					`listeners.tcp.default = 127.0.0.1:${ports[i].amqp}`,
					`mqtt.listeners.tcp.default = 127.0.0.1:${ports[i].mqtt}`,
					"mqtt.allow_anonymous = true",
					"loopback_users = none",
					"cluster_formation.peer_discovery_backend = classic_config",
					...names.map((name, n) => `cluster_formation.classic_config.nodes.${n + 1} = ${name}`),
					"",
				].join("\n"),
			);
			return spawn(RABBITMQ_SERVER, [], {
				stdio: "ignore",
				detached: true,
				env: {
					PATH: process.env.PATH ?? "",
					HOME: home,
					RABBITMQ_NODENAME: names[i],
					RABBITMQ_NODE_PORT: String(ports[i].amqp),
					RABBITMQ_DIST_PORT: String(ports[i].dist),
					RABBITMQ_MNESIA_BASE: path.join(base, "mnesia"),
					RABBITMQ_LOG_BASE: path.join(base, "log"),
					RABBITMQ_ENABLED_PLUGINS_FILE: path.join(base, "enabled_plugins"),
					RABBITMQ_CONFIG_FILE: path.join(base, "rabbitmq.conf"),
					RABBITMQ_ADVANCED_CONFIG_FILE: path.join(base, "advanced.config"),
					RABBITMQ_PID_FILE: path.join(base, "pid"),
				},
			});
		};
		// The whole process group (the start script, erl, beam.smp, epmd helpers it started), by its id.
		const killNode = async (i: number): Promise<void> => {
			const child = children[i];
			if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
			const exited = new Promise(resolve => child.once("exit", resolve));
			try {
				process.kill(-child.pid, "SIGKILL");
			} catch {
				// already gone
			}
			await exited;
		};
		const stop = async (): Promise<void> => {
			for (let i = 0; i < 3; i++) await killNode(i);
			rmSync(dir, { recursive: true, force: true });
		};
		try {
			children[0] = startNode(0);
			await waitForPort(ports[0].mqtt, children[0], 60_000);
			children[1] = startNode(1);
			children[2] = startNode(2);
			await Promise.all([1, 2].map(i => waitForPort(ports[i].mqtt, children[i] as ChildProcess, 60_000)));
			const urls = ports.map(p => `mqtt://127.0.0.1:${p.mqtt}`);
			await waitForCluster(urls, 60_000);
			return {
				urls,
				pids: () => children.flatMap(c => (c?.pid === undefined || c.exitCode !== null ? [] : [c.pid])),
				worstNode: async () => 0,
				kill: killNode,
				stop,
			};
		} catch (err) {
			await stop();
			throw err;
		}
	},
};

export const aedesRedis: BrokerKind = {
	id: "aedes-redis",
	name: "aedes ×3 + Redis",
	nodes: 3,
	missing: () =>
		["aedes", "mqemitter-redis", "aedes-persistence-redis"].every(name =>
			existsSync(path.join(AEDES_REDIS_DIR, "node_modules", name)),
		)
			? undefined
			: `mqemitter-redis, aedes-persistence-redis and aedes are not in ${AEDES_REDIS_DIR} (npm install --no-save --prefix ${AEDES_REDIS_DIR} mqemitter-redis aedes-persistence-redis aedes)`,
	async start(redisUrl) {
		const children: ChildProcess[] = [];
		const urls: string[] = [];
		try {
			for (let i = 0; i < 3; i++) {
				const port = await freePort();
				const child = spawn(process.execPath, [AEDES_NODE, String(port)], {
					stdio: ["ignore", "pipe", "inherit"],
					env: { PATH: process.env.PATH ?? "", AEDES_REDIS_DIR, REDIS_URL: redisUrl },
				});
				children.push(child);
				await readyLine(child, "AEDES_READY");
				urls.push(`mqtt://127.0.0.1:${port}`);
			}
			await waitForCluster(urls, 30_000);
		} catch (err) {
			await Promise.all(children.map(killChild));
			throw err;
		}
		return {
			urls,
			pids: () => children.flatMap(c => (c.pid === undefined || c.exitCode !== null ? [] : [c.pid])),
			worstNode: async () => 0,
			kill: i => killChild(children[i]),
			stop: async () => {
				await Promise.all(children.map(killChild));
			},
		};
	},
};

export const BROKERS: BrokerKind[] = [mosquitto, nats, rabbitmq, aedesRedis];
