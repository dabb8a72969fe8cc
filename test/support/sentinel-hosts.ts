/**
 * A Redis master, its replicas and their Sentinels spread over hosts of their own (network namespaces,
 * test/support/netns.ts): each host runs one data server (port 6379; the first host's is the master at
 * start) and one Sentinel (port 26379), as a real deployment would. Checked through `reach`, since the
 * test process is on none of these networks. A data server can be killed (SIGKILL) and started again:
 * it comes back empty, and the Sentinels make it a replica of whoever is master then.
 *
 * @example
 *   const redis = await startHostedSentinelGroup([r1, r2, r3], reach);
 *   env.REDIS_SENTINELS = redis.sentinels.map(s => `${s.host}:${s.port}`).join(",");
 *   const master = await redis.currentMaster(); await master?.kill(); await master?.start();
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RedisNode } from "../../src/redis-connection";
import { type ProcessHost, waitFor } from "./node-process";
import type { Reach } from "./reach";
import { onlineReplicas, REPLICATION_ARGS, SENTINEL_NAME, sentinelConfig, sentinelKnows } from "./redis-topology";

const DATA_PORT = 6379;
const SENTINEL_PORT = 26379;

export interface HostedRedis extends RedisNode {
	readonly running: boolean;
	/** SIGKILL, and wait for the exit. */
	kill(): Promise<void>;
	/** Starts it (empty: no persistence), as a replica of `master` or else a master, and waits until it answers. */
	start(master?: RedisNode): Promise<void>;
}

export interface HostedSentinelGroup {
	/** REDIS_SENTINEL_NAME. */
	name: string;
	/** REDIS_SENTINELS. */
	sentinels: RedisNode[];
	/** One per host, the first the master at start. */
	servers: HostedRedis[];
	/** The server the Sentinels name as master now. */
	currentMaster(): Promise<HostedRedis | undefined>;
	/**
	 * Resolves once every Sentinel names the same master and it has every other running server
	 * online as its replica. Follows the Sentinels rather than a master named beforehand: a failover that
	 * times out is retried and may promote another replica. A timeout says what each server was doing.
	 */
	settled(timeoutMs?: number): Promise<void>;
	stop(): Promise<void>;
}

export async function startHostedSentinelGroup(hosts: ProcessHost[], reach: Reach): Promise<HostedSentinelGroup> {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-hosted-sentinel-"));
	const [first] = hosts;
	if (!first || hosts.length < 3) throw new Error("a Sentinel group needs 3 hosts at least (quorum 2)");
	const masterAtStart = { host: first.address, port: DATA_PORT };
	const servers = hosts.map((host, i) => dataServer(host, path.join(dir, `data-${i}`)));
	await servers[0].start();
	await Promise.all(servers.slice(1).map(server => server.start(masterAtStart)));
	const sentinels = hosts.map((host, i) => {
		const file = path.join(dir, `sentinel-${i}.conf`);
		// Without a password Redis answers only loopback unless told otherwise: the network is the test's own.
		fs.writeFileSync(file, `${[...sentinelConfig(masterAtStart), "protected-mode no"].join("\n")}\n`);
		return host.spawn("redis-server", [file, "--sentinel", "--port", String(SENTINEL_PORT), "--bind", host.address], {
			stdio: "ignore",
		});
	});
	const sentinelNodes = hosts.map(host => ({ host: host.address, port: SENTINEL_PORT }));
	const group: HostedSentinelGroup = {
		name: SENTINEL_NAME,
		sentinels: sentinelNodes,
		servers,
		async currentMaster() {
			const [named] = (await mastersNamed()).filter(address => address !== "none");
			return servers.find(s => `${s.host}:${s.port}` === named);
		},
		async settled(timeoutMs = 30_000) {
			await waitFor(
				async () => {
					const named = new Set(await mastersNamed());
					const [only] = named;
					const master = named.size === 1 ? servers.find(s => `${s.host}:${s.port}` === only) : undefined;
					const others = servers.filter(s => s.running && s !== master).length;
					if (master && onlineReplicas(String(await reach.redis(master, ["INFO", "replication"]))) === others) return true;
					throw new Error(`Sentinels name ${[...named].join(" and ")}; ${await replicationStates()}`);
				},
				timeoutMs,
				"one master named by every Sentinel with every other server online",
			);
		},
		async stop() {
			await Promise.all(servers.map(s => s.kill()));
			await Promise.all(sentinels.map(stopProcess));
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
	try {
		await group.settled();
		// Every Sentinel knows the replicas and the other Sentinels before a test may fail the master over.
		await waitFor(
			async () => {
				const views = await Promise.all(sentinelNodes.map(s => reach.redis(s, ["SENTINEL", "MASTER", SENTINEL_NAME])));
				return views.every(view => sentinelKnows(view, hosts.length - 1, hosts.length - 1));
			},
			20_000,
			"sentinels know the replicas and each other",
		);
	} catch (err) {
		await group.stop();
		throw err;
	}
	return group;

	/** The master each Sentinel names, as "host:port" ("none" when it does not answer), in `sentinelNodes` order. */
	async function mastersNamed(): Promise<string[]> {
		return Promise.all(
			sentinelNodes.map(async sentinel => {
				const address = await reach.redis(sentinel, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_NAME]).catch(() => null);
				return Array.isArray(address) ? `${address[0]}:${address[1]}` : "none";
			}),
		);
	}

	/** Each running server's role, and a replica's master and link, e.g. "10.213.7.14: master, 2 online". */
	async function replicationStates(): Promise<string> {
		const states = await Promise.all(
			servers.map(async server => {
				if (!server.running) return `${server.host}: not running`;
				const info = String(await reach.redis(server, ["INFO", "replication"]).catch(err => `unreachable (${err})`));
				const field = (key: string): string => info.match(new RegExp(`^${key}:(.*)$`, "m"))?.[1]?.trim() ?? "?";
				return field("role") === "master"
					? `${server.host}: master, ${onlineReplicas(info)} online`
					: `${server.host}: ${field("role")} of ${field("master_host")}, link ${field("master_link_status")}`;
			}),
		);
		return states.join("; ");
	}

	function dataServer(host: ProcessHost, folder: string): HostedRedis {
		fs.mkdirSync(folder);
		let child: ChildProcess | undefined;
		const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
		const node = { host: host.address, port: DATA_PORT };
		return {
			...node,
			get running() {
				return running();
			},
			kill: async () => {
				if (child) await stopProcess(child);
			},
			async start(master) {
				const args = [
					"--port",
					String(DATA_PORT),
					"--bind",
					host.address,
					"--dir",
					folder,
					"--save",
					"",
					"--appendonly",
					"no",
					"--protected-mode",
					"no",
				];
				const replicaOf = master ? ["--replicaof", master.host, String(master.port)] : [];
				child = host.spawn("redis-server", [...args, ...REPLICATION_ARGS, ...replicaOf], { stdio: "ignore" });
				await waitFor(
					async () => running() && (await reach.redis(node, ["PING"])) === "PONG",
					10_000,
					`redis-server on ${host.address}`,
				);
			},
		};
	}
}

function stopProcess(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
	return new Promise(resolve => {
		child.once("exit", () => resolve());
		child.kill("SIGKILL");
	});
}
