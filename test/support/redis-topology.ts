/**
 * Redis topologies of the test's own, from real redis-server processes on free ports: a Redis Cluster, and
 * a master with replicas watched by Sentinels. No persistence; everything stopped by its PID.
 *
 * @example
 *   const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
 *   const store = new RedisHistory({ kind: "cluster", nodes: cluster.nodes, tls: false }, …);
 *   await cluster.stop();
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import Redis from "ioredis";
import { connectRedis, type RedisNode, type RedisTarget, whenReady } from "../../src/redis-connection";
import { RedisHistory } from "../../src/redis-history";
import { CONTRACT_OPTIONS, historyStoreContract, waitedMarks } from "./history-store-contract";
import { freePort, waitFor } from "./node-process";

const run = promisify(execFile);

export interface RedisProcess extends RedisNode {
	pid: number;
	/** A client of the test's own (INFO, CONFIG, inspecting keys). */
	client: Redis;
	/** SIGKILL, and waits for the exit. */
	kill(): Promise<void>;
	signal(signal: "SIGSTOP" | "SIGCONT"): void;
}

interface Topology {
	dir: string;
	processes: RedisProcess[];
}

async function startProcess(topology: Topology, args: string[], sentinel = false): Promise<RedisProcess> {
	const port = await freePort();
	const common = ["--port", String(port), "--bind", "127.0.0.1", "--dir", topology.dir];
	let child: ChildProcess;
	if (sentinel) {
		const file = path.join(topology.dir, `sentinel-${port}.conf`);
		fs.writeFileSync(file, `${args.join("\n")}\n`);
		child = spawn("redis-server", [file, "--sentinel", ...common], { stdio: "ignore" });
	} else {
		child = spawn("redis-server", [...common, "--save", "", "--appendonly", "no", ...args], { stdio: "ignore" });
	}
	const exited = new Promise<void>(resolve => child.once("exit", () => resolve()));
	const pid = child.pid ?? -1;
	const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 0, retryStrategy: () => 100, lazyConnect: true });
	client.on("error", () => undefined);
	const started: RedisProcess = {
		host: "127.0.0.1",
		port,
		pid,
		client,
		async kill() {
			client.disconnect();
			if (child.exitCode === null && child.signalCode === null) {
				process.kill(pid, "SIGCONT");
				process.kill(pid, "SIGKILL");
			}
			await exited;
		},
		signal: signal => process.kill(pid, signal),
	};
	topology.processes.push(started);
	await waitFor(async () => (await client.ping()) === "PONG", 10_000, `redis-server on ${port}`);
	return started;
}

function newTopology(label: string): Topology {
	return { dir: fs.mkdtempSync(path.join(os.tmpdir(), `chatcast-${label}-`)), processes: [] };
}

async function stopTopology(topology: Topology): Promise<void> {
	await Promise.all(topology.processes.map(p => p.kill()));
	fs.rmSync(topology.dir, { recursive: true, force: true });
}

export interface RedisClusterTopology {
	/** The masters, then the replicas. */
	nodes: RedisNode[];
	processes: RedisProcess[];
	stop(): Promise<void>;
}

/** A Redis Cluster of `masters` masters (each with `replicasPerMaster` replicas), all slots assigned, state ok. */
export async function startRedisCluster(options: { masters: number; replicasPerMaster: number }): Promise<RedisClusterTopology> {
	const topology = newTopology("cluster");
	const count = options.masters * (1 + options.replicasPerMaster);
	const processes = await Promise.all(
		Array.from({ length: count }, (_, i) =>
			startProcess(topology, [
				"--cluster-enabled",
				"yes",
				"--cluster-config-file",
				`nodes-${i}.conf`,
				"--cluster-node-timeout",
				"1000",
				"--repl-diskless-sync",
				"yes",
				"--repl-diskless-sync-delay",
				"0",
			]),
		),
	);
	const addresses = processes.map(p => `127.0.0.1:${p.port}`);
	await run("redis-cli", [
		"--cluster",
		"create",
		...addresses,
		"--cluster-replicas",
		String(options.replicasPerMaster),
		"--cluster-yes",
	]);
	await waitFor(
		async () => {
			const states = await Promise.all(processes.map(p => p.client.cluster("INFO")));
			return states.every(info => String(info).includes("cluster_state:ok"));
		},
		20_000,
		"cluster_state:ok on every node",
	);
	if (options.replicasPerMaster > 0) {
		const masters = processes.slice(0, options.masters);
		await waitFor(
			async () => {
				const infos = await Promise.all(masters.map(m => m.client.info("replication")));
				return infos.every(info => (info.match(/^slave\d+:.*state=online/gm) ?? []).length >= options.replicasPerMaster);
			},
			20_000,
			"every replica online",
		);
	}
	return { nodes: processes.map(({ host, port }) => ({ host, port })), processes, stop: () => stopTopology(topology) };
}

export interface SentinelTopology {
	/** The sentinels' addresses (REDIS_SENTINELS). */
	sentinels: RedisNode[];
	name: string;
	/** The data servers: the first is the master at start. */
	servers: RedisProcess[];
	/** The server the Sentinels name as master now. */
	currentMaster(): Promise<RedisProcess | undefined>;
	stop(): Promise<void>;
}

/** The name the Sentinels of these topologies watch their master by (REDIS_SENTINEL_NAME). */
export const SENTINEL_NAME = "chatcast";

/** Replicas that sync at once, without a disk. */
export const REPLICATION_ARGS = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"];

/** A Sentinel's configuration: quorum 2, a master is down after 1 s without an answer. */
export function sentinelConfig(master: RedisNode): string[] {
	return [
		`sentinel monitor ${SENTINEL_NAME} ${master.host} ${master.port} 2`,
		`sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
		`sentinel failover-timeout ${SENTINEL_NAME} 5000`,
		`sentinel parallel-syncs ${SENTINEL_NAME} 2`,
	];
}

/** How many replicas a master's `INFO replication` lists as online. */
export function onlineReplicas(info: string): number {
	return info.match(/^slave\d+:.*state=online/gm)?.length ?? 0;
}

/** Whether a Sentinel's `SENTINEL MASTER` answer shows it knows `replicas` replicas and `otherSentinels` other Sentinels. */
export function sentinelKnows(view: unknown, replicas: number, otherSentinels: number): boolean {
	const fields = view as string[];
	const field = (key: string): number => Number(fields[fields.indexOf(key) + 1]);
	return field("num-slaves") === replicas && field("num-other-sentinels") === otherSentinels;
}

/** A master, `replicas` replicas and `sentinels` Sentinels (quorum 2) that fail over after 1 s without an answer. */
export async function startSentinelGroup(options: { replicas: number; sentinels: number }): Promise<SentinelTopology> {
	const topology = newTopology("sentinel");
	const name = SENTINEL_NAME;
	const master = await startProcess(topology, REPLICATION_ARGS);
	const replicas = await Promise.all(
		Array.from({ length: options.replicas }, () =>
			startProcess(topology, [...REPLICATION_ARGS, "--replicaof", "127.0.0.1", String(master.port)]),
		),
	);
	const sentinels = await Promise.all(
		Array.from({ length: options.sentinels }, () => startProcess(topology, sentinelConfig(master), true)),
	);
	const servers = [master, ...replicas];
	await waitFor(
		async () => onlineReplicas(await master.client.info("replication")) === options.replicas,
		15_000,
		"replicas online",
	);
	// Every Sentinel knows the replicas and the other Sentinels before a test may fail the master over.
	await waitFor(
		async () => {
			const views = await Promise.all(sentinels.map(s => s.client.call("SENTINEL", "MASTER", name)));
			return views.every(view => sentinelKnows(view, options.replicas, options.sentinels - 1));
		},
		20_000,
		"sentinels know the replicas and each other",
	);
	return {
		sentinels: sentinels.map(({ host, port }) => ({ host, port })),
		name,
		servers,
		async currentMaster() {
			for (const sentinel of sentinels) {
				const address = (await sentinel.client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name).catch(() => null)) as
					| string[]
					| null;
				if (address) return servers.find(s => s.port === Number(address[1]));
			}
			return undefined;
		},
		stop: () => stopTopology(topology),
	};
}

/**
 * The history-store contract against RedisHistory on a topology's `target()` (known once it started),
 * with keys under `prefix`; a "restart" forgets the channel's keys, as a lost Redis would.
 *
 * @example
 *   redisTopologyContract("RedisHistory on a Redis Cluster", () => target, prefix);
 */
export function redisTopologyContract(name: string, target: () => RedisTarget, prefix: string): void {
	historyStoreContract(name, {
		create: () => new RedisHistory(target(), { ...CONTRACT_OPTIONS, keyPrefix: prefix }),
		async restart(store, channel) {
			const admin = connectRedis(target(), {});
			await whenReady(admin, 5000);
			await admin.del(`${prefix}{${channel}}:head`, `${prefix}{${channel}}:log`);
			admin.disconnect();
			return store;
		},
		marks: () => waitedMarks(new RedisHistory(target(), { ...CONTRACT_OPTIONS, keyPrefix: prefix, interestTtlMs: 300 }), 300),
	});
}
