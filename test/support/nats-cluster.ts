/**
 * A NATS server cluster with MQTT (the clustered broker of docs/adr-clustered-broker.md), of the test's
 * own: every node on free loopback ports (client, cluster route, MQTT, monitoring), JetStream in a
 * temporary folder, routes to every other node. A node can be killed (SIGKILL) and started again with
 * the same ports and store. Stopped by PID; the folder is removed.
 *
 * @example
 *   const cluster = await startNatsCluster(3);
 *   startNode({ namespace, env: { MQTT_URL: cluster.mqttUrls.join(",") } });
 *   const leader = await cluster.streamLeader(SESSION_STREAM); // the node whose loss costs a Raft election
 *   await cluster.nodes[0].kill();
 *   await cluster.nodes[0].start();
 *   await cluster.stop();
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { freePort, waitFor } from "./node-process";

/** Where Debian's package installs it; NATS_SERVER overrides. */
export const NATS_SERVER = process.env.NATS_SERVER ?? "/usr/sbin/nats-server";

/** The JetStream stream where NATS's MQTT keeps its sessions: every CONNECT looks the client id up in it. */
export const SESSION_STREAM = "$MQTT_sess";

export interface NatsNode {
	name: string;
	mqttPort: number;
	mqttUrl: string;
	/** The HTTP monitoring port (`/jsz`, `/varz`). */
	monitorPort: number;
	readonly running: boolean;
	/** The PID of the running nats-server (undefined before the first start). */
	readonly pid: number | undefined;
	/** SIGKILL, and wait for the exit. */
	kill(): Promise<void>;
	/** Starts it again (same ports, same store) and waits until its MQTT port accepts connections. */
	start(): Promise<void>;
	output(): string;
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

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
	const missing = natsServerMissing();
	if (missing) throw new Error(missing);
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-nats-"));
	const ports: { client: number; route: number; mqtt: number; monitor: number }[] = [];
	for (let i = 0; i < size; i++)
		ports.push({ client: await freePort(), route: await freePort(), mqtt: await freePort(), monitor: await freePort() });
	const nodes = ports.map((port, i) => {
		const name = `n${i + 1}`;
		const routes = ports.filter(p => p !== port).map(p => `nats-route://127.0.0.1:${p.route}`);
		const config = path.join(dir, `${name}.conf`);
		fs.writeFileSync(
			config,
			[
				`server_name: ${name}`,
				`listen: 127.0.0.1:${port.client}`,
				`http: 127.0.0.1:${port.monitor}`,
				`jetstream { store_dir: "${path.join(dir, name)}" }`,
				`cluster { name: chatcast, listen: 127.0.0.1:${port.route}, routes: [${routes.join(", ")}] }`,
				// Sessions on all three: created while only two nodes are routed, they would get 2 replicas, and losing
				// one of those stops new MQTT connections everywhere until it is back.
				`mqtt { listen: 127.0.0.1:${port.mqtt}, stream_replicas: ${size} }`,
			].join("\n"),
		);
		return natsNode(name, config, port.mqtt, port.monitor);
	});
	await Promise.all(nodes.map(node => node.start()));
	// NATS's MQTT keeps sessions in JetStream: a CONNECT is answered once the nodes elected a meta leader.
	await Promise.all(
		nodes.map(node => waitFor(() => mqttAnswers(node.mqttUrl), 30_000, `MQTT on nats-server ${node.name}`)),
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
		const res = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz?accounts=true&streams=true`).catch(() => undefined);
		const jsz = (await res?.json().catch(() => undefined)) as Jsz | undefined;
		const details = (jsz?.account_details ?? []).flatMap(account => account.stream_detail ?? []);
		const leader = details.find(detail => detail.name === stream)?.cluster?.leader;
		if (leader) return leader;
	}
	return undefined;
}

function natsNode(name: string, config: string, mqttPort: number, monitorPort: number): NatsNode {
	let child: ChildProcess | undefined;
	let exited: Promise<void> = Promise.resolve();
	let output = "";
	const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
	return {
		name,
		mqttPort,
		monitorPort,
		mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
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
			const started = spawn(NATS_SERVER, ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
			child = started;
			exited = new Promise(resolve => started.once("exit", () => resolve()));
			for (const stream of [started.stdout, started.stderr]) stream?.on("data", (chunk: Buffer) => (output += chunk));
			await waitFor(() => running() && acceptsConnections(mqttPort), 15_000, `nats-server ${name}'s MQTT port ${mqttPort}`);
		},
	};
}

async function mqttAnswers(url: string): Promise<boolean> {
	const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000 }, false).catch(() => undefined);
	await client?.endAsync(true);
	return client !== undefined;
}

function acceptsConnections(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const socket = net.connect(port, "127.0.0.1");
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});
}
