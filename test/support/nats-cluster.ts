/**
 * A NATS server cluster with MQTT (the clustered broker of docs/adr-clustered-broker.md), of the test's
 * own: every node on free loopback ports (client, cluster route, MQTT, monitoring), JetStream in a
 * temporary folder, routes to every other node. A node can be killed (SIGKILL) and started again with
 * the same ports and store. Stopped by PID; the folder is removed. On other hosts (network namespaces),
 * one node per host on the standard ports, checked through `reach`.
 *
 * @example
 *   const cluster = await startNatsCluster(3);
 *   startNode({ namespace, env: { MQTT_URL: cluster.mqttUrls.join(",") } });
 *   const leader = await cluster.streamLeader(SESSION_STREAM); // the node whose loss costs a Raft election
 *   await cluster.nodes[0].kill();
 *   await cluster.nodes[0].start();
 *   await cluster.stop();
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BrokerNode } from "./mqtt-cluster";
import { freePort, LOCALHOST, type ProcessHost, waitFor } from "./node-process";
import { localReach, type Reach } from "./reach";

/** Where Debian's package installs it; NATS_SERVER overrides. */
export const NATS_SERVER = process.env.NATS_SERVER ?? "/usr/sbin/nats-server";

/** The JetStream stream where NATS's MQTT keeps its sessions: every CONNECT looks the client id up in it. */
export const SESSION_STREAM = "$MQTT_sess";

export interface NatsNode extends BrokerNode {
	/** The HTTP monitoring port (`/jsz`, `/varz`). */
	monitorPort: number;
	/** Its monitoring endpoint's base URL. */
	monitorUrl: string;
}

export interface NatsCluster {
	nodes: NatsNode[];
	/** Each node's MQTT URL, in node order: MQTT_URL is these joined with ",". */
	mqttUrls: string[];
	/** The index in `nodes` of the node leading a JetStream stream's Raft group (asked of a running node). */
	streamLeader(stream: string): Promise<number>;
	stop(): Promise<void>;
}

/** Why the cluster cannot start here, or undefined when nats-server is installed. */
export function natsServerMissing(): string | undefined {
	return fs.existsSync(NATS_SERVER)
		? undefined
		: `nats-server is not installed at ${NATS_SERVER} (apt-get install nats-server, or set NATS_SERVER)`;
}

/** Where the nodes run: one per host (default: all on this machine's loopback, on free ports). */
export interface NatsPlacement {
	hosts: ProcessHost[];
	/** How the test checks the nodes' ports (default: from its own process). */
	reach: Reach;
}

interface NodePorts {
	address: string;
	client: number;
	route: number;
	mqtt: number;
	monitor: number;
}

export async function startNatsCluster(size = 3, placement?: NatsPlacement): Promise<NatsCluster> {
	const missing = natsServerMissing();
	if (missing) throw new Error(missing);
	const reach = placement?.reach ?? localReach;
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-nats-"));
	const ports: NodePorts[] = [];
	for (let i = 0; i < size; i++) {
		const host = placement?.hosts[i];
		// A host of its own has the standard ports to itself.
		ports.push(
			host
				? { address: host.address, client: 4222, route: 6222, mqtt: 1883, monitor: 8222 }
				: {
						address: LOCALHOST.address,
						client: await freePort(),
						route: await freePort(),
						mqtt: await freePort(),
						monitor: await freePort(),
					},
		);
	}
	const nodes = ports.map((port, i) => {
		const name = `n${i + 1}`;
		const routes = ports.filter(p => p !== port).map(p => `nats-route://${p.address}:${p.route}`);
		const config = path.join(dir, `${name}.conf`);
		fs.writeFileSync(
			config,
			[
				`server_name: ${name}`,
				`listen: ${port.address}:${port.client}`,
				`http: ${port.address}:${port.monitor}`,
				`jetstream { store_dir: "${path.join(dir, name)}" }`,
				`cluster { name: chatcast, listen: ${port.address}:${port.route}, routes: [${routes.join(", ")}] }`,
				// Sessions on all three: created while only two nodes are routed, they would get 2 replicas, and losing
				// one of those stops new MQTT connections everywhere until it is back.
				`mqtt { listen: ${port.address}:${port.mqtt}, stream_replicas: ${size} }`,
			].join("\n"),
		);
		return natsNode(name, config, port, placement?.hosts[i] ?? LOCALHOST, reach);
	});
	await Promise.all(nodes.map(node => node.start()));
	// NATS's MQTT keeps sessions in JetStream: a CONNECT is answered once the nodes elected a meta leader.
	await Promise.all(
		nodes.map(node => waitFor(() => reach.mqttAnswers(node.mqttUrl), 30_000, `MQTT on nats-server ${node.name}`)),
	).catch(async (err: Error) => {
		await Promise.all(nodes.map(node => node.kill()));
		throw new Error(`${err.message}\n${nodes.map(node => `${node.name}:\n${node.output()}`).join("\n")}`);
	});
	return {
		nodes,
		mqttUrls: nodes.map(node => node.mqttUrl),
		async streamLeader(stream) {
			const name = await waitFor(() => leaderName(nodes, stream), 15_000, `a leader of stream ${stream}`);
			return nodes.findIndex(node => node.name === name);
		},
		async stop() {
			await Promise.all(nodes.map(node => node.kill()));
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

/** What `/jsz?accounts=true&streams=true` says of the streams a server holds (the part read here). */
interface Jsz {
	account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
}

/** The name of the stream's leader as a running node reports it; undefined while there is none. */
async function leaderName(nodes: NatsNode[], stream: string): Promise<string | undefined> {
	for (const node of nodes.filter(n => n.running)) {
		const res = await fetch(`${node.monitorUrl}/jsz?accounts=true&streams=true`).catch(() => undefined);
		const jsz = (await res?.json().catch(() => undefined)) as Jsz | undefined;
		const details = (jsz?.account_details ?? []).flatMap(account => account.stream_detail ?? []);
		const leader = details.find(detail => detail.name === stream)?.cluster?.leader;
		if (leader) return leader;
	}
	return undefined;
}

function natsNode(name: string, config: string, ports: NodePorts, host: ProcessHost, reach: Reach): NatsNode {
	const mqttPort = ports.mqtt;
	let child: ChildProcess | undefined;
	let exited: Promise<void> = Promise.resolve();
	let output = "";
	const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
	return {
		name,
		mqttPort,
		mqttUrl: `mqtt://${ports.address}:${mqttPort}`,
		monitorPort: ports.monitor,
		monitorUrl: `http://${ports.address}:${ports.monitor}`,
		get running() {
			return running();
		},
		get pid() {
			return child?.pid;
		},
		output: () => output,
		async kill() {
			if (child?.pid !== undefined && running()) process.kill(child.pid, "SIGKILL");
			await exited;
		},
		async start() {
			const started = host.spawn(NATS_SERVER, ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
			child = started;
			exited = new Promise(resolve => started.once("exit", () => resolve()));
			for (const stream of [started.stdout, started.stderr]) stream?.on("data", (chunk: Buffer) => (output += chunk));
			await waitFor(
				() => running() && reach.tcpOpen(ports.address, mqttPort),
				15_000,
				`nats-server ${name}'s MQTT port ${mqttPort}`,
			);
		},
	};
}
