/**
 * The MQTT brokers bench/brokers.ts compares, each started as the bench's own (free loopback ports,
 * temporary folders, stopped by PID): Mosquitto (one node, the baseline), NATS (3 nodes, MQTT on
 * JetStream, test/support/nats-cluster.ts), RabbitMQ (3 nodes, MQTT plugin, never the system's node on
 * 5672; test/support/rabbitmq-cluster.ts, as the clustered-broker test uses it) and aedes × 3 sharing state through Redis (mqemitter-redis, aedes-persistence-redis, loaded from
 * AEDES_REDIS_DIR). A broker that cannot run here says why (`missing`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { waitForMqttCluster } from "../../test/support/mqtt-cluster";
import { natsServerMissing, SESSION_STREAM, startNatsCluster } from "../../test/support/nats-cluster";
import { MQTT_RA_CLUSTER, rabbitMqMissing, startRabbitMqCluster } from "../../test/support/rabbitmq-cluster";
import { mosquittoMissing, startMosquitto } from "../support/mosquitto";
import { freePort, readyLine, stopChild } from "../support/processes";

export interface RunningBrokers {
	/** One MQTT URL per node. */
	urls: string[];
	/** Root PIDs of the broker's processes (their CPU and memory are the broker's). */
	pids(): number[];
	/** The node whose loss hurts most (NATS: the session stream's leader, RabbitMQ: mqtt_node's); edge 0 connects to it first. */
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

export const AEDES_REDIS_DIR = process.env.AEDES_REDIS_DIR ?? "/tmp/aedes-redis";
const AEDES_NODE = path.resolve(__dirname, "aedes-redis-node.js");

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
		await waitForMqttCluster(cluster.mqttUrls, 30_000);
		return {
			urls: cluster.mqttUrls,
			pids: () => cluster.nodes.flatMap(node => (node.pid === undefined ? [] : [node.pid])),
			worstNode: () => cluster.streamLeader(SESSION_STREAM),
			kill: i => cluster.nodes[i].kill(),
			stop: () => cluster.stop(),
		};
	},
};

/** RabbitMQ's nodes of the bench's own (test/support/rabbitmq-cluster.ts); the worst to lose leads `mqtt_node`. */
export const rabbitmq: BrokerKind = {
	id: "rabbitmq",
	name: "RabbitMQ ×3",
	nodes: 3,
	missing: rabbitMqMissing,
	async start() {
		const cluster = await startRabbitMqCluster(3);
		return {
			urls: cluster.mqttUrls,
			pids: () => cluster.nodes.flatMap(node => (node.pid === undefined || !node.running ? [] : [node.pid])),
			worstNode: () => cluster.raLeader(MQTT_RA_CLUSTER),
			kill: i => cluster.nodes[i].kill(),
			stop: () => cluster.stop(),
		};
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
			await waitForMqttCluster(urls, 30_000);
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
