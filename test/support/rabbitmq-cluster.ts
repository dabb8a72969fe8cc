/**
 * A RabbitMQ cluster with the MQTT plugin (the clustered broker of docs/adr-clustered-broker.md for the
 * core layout), of the caller's own: node names `cc<pid>n<i><random>@localhost`, an Erlang cookie of its
 * own, free loopback ports (AMQP, distribution, MQTT), Mnesia, logs, plugins file and env file in a
 * temporary folder; never the system node (5672/25672) nor its /etc/rabbitmq files. The nodes are
 * started together and join by classic-config peer discovery (RabbitMQ takes a lock, so one cluster
 * forms); ready once a packet passes from each node to the next. A node can be SIGKILLed and started
 * again (same name, ports and Mnesia: it rejoins). Stopped by process group; the folder is removed.
 *
 * @example
 *   const cluster = await startRabbitMqCluster(3); // 35–90 s here
 *   const leader = await cluster.raLeader(MQTT_RA_CLUSTER); // the node registering MQTT client ids
 *   await cluster.nodes[leader].kill();
 *   await cluster.nodes[leader].start();
 *   await cluster.stop();
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { type BrokerNode, waitForMqttCluster } from "./mqtt-cluster";
import { freePort, waitFor } from "./node-process";
import { localReach } from "./reach";

/** Where Debian's package installs it; RABBITMQ_SERVER overrides (rabbitmqctl is taken from the same folder). */
export const RABBITMQ_SERVER = process.env.RABBITMQ_SERVER ?? "/usr/lib/rabbitmq/bin/rabbitmq-server";
const RABBITMQCTL = path.join(path.dirname(RABBITMQ_SERVER), "rabbitmqctl");

/** The Ra cluster the MQTT plugin (3.10) registers client ids in: every CONNECT is a command to its leader. */
export const MQTT_RA_CLUSTER = "mqtt_node";

/**
 * How long a node may take to open its MQTT port, and the whole cluster to form (30–90 s on the shared 2-core
 * machine): startRabbitMqCluster fails by then, naming what it waited for, with the nodes' logs.
 */
const START_TIMEOUT_MS = 90_000;
const FORM_TIMEOUT_MS = 240_000;
/** The tail of a node's log kept for failure messages. */
const OUTPUT_KEEP = 64 * 1024;

const run = promisify(execFile);

/** Process groups of running nodes: killed if the test process exits without stop() (a timed-out hook). */
const liveGroups = new Set<number>();
process.once("exit", () => {
	for (const pid of liveGroups) killGroup(pid);
});

function killGroup(pid: number): void {
	try {
		process.kill(-pid, "SIGKILL");
	} catch {
		// the group is gone already
	}
}

/**
 * `name`: the Erlang node name; `pid`: the start script's, leader of the node's process group; `kill()`:
 * SIGKILL to that group (script, beam.smp, helpers), resolved once MQTT is closed; `output()`: its log's tail.
 */
export type RabbitMqNode = BrokerNode;

export interface RabbitMqCluster {
	nodes: RabbitMqNode[];
	/** Each node's MQTT URL, in node order: MQTT_URL is these joined with ",". */
	mqttUrls: string[];
	/** The index in `nodes` of the node leading a Ra cluster (asked of a running node with rabbitmqctl). */
	raLeader(raCluster: string): Promise<number>;
	/** Waits until every node runs and passes packets to the next (after a node was started again). */
	whole(timeoutMs: number): Promise<void>;
	stop(): Promise<void>;
}

/** The MQTT plugin folder of the installed RabbitMQ, if any. */
function mqttPlugin(): string | undefined {
	const lib = path.resolve(path.dirname(fs.realpathSync(RABBITMQ_SERVER)), "..", "plugins");
	const found = fs.existsSync(lib) ? fs.readdirSync(lib).find(entry => entry.startsWith("rabbitmq_mqtt-")) : undefined;
	return found && path.join(lib, found);
}

/** Why the cluster cannot start here, or undefined when rabbitmq-server and its MQTT plugin are installed. */
export function rabbitMqMissing(): string | undefined {
	if (!fs.existsSync(RABBITMQ_SERVER) || !fs.existsSync(RABBITMQCTL))
		return `rabbitmq-server is not installed at ${RABBITMQ_SERVER} (apt-get install rabbitmq-server, or set RABBITMQ_SERVER)`;
	return mqttPlugin() ? undefined : `RabbitMQ at ${RABBITMQ_SERVER} has no rabbitmq_mqtt plugin`;
}

interface NodeSetup {
	name: string;
	ports: { amqp: number; dist: number; mqtt: number };
	/** The node's folder: home (cookie), mnesia, config, plugins and env file. */
	base: string;
}

export async function startRabbitMqCluster(size = 3): Promise<RabbitMqCluster> {
	const missing = rabbitMqMissing();
	if (missing) throw new Error(missing);
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-rabbitmq-"));
	const tag = randomBytes(3).toString("hex");
	const cookie = `CHATCAST${randomBytes(12).toString("hex").toUpperCase()}`;
	const setups: NodeSetup[] = [];
	for (let i = 0; i < size; i++)
		setups.push({
			name: `cc${process.pid}n${i + 1}${tag}@localhost`,
			ports: { amqp: await freePort(), dist: await freePort(), mqtt: await freePort() },
			base: path.join(dir, `n${i + 1}`),
		});
	for (const setup of setups) writeNodeFiles(setup, setups, cookie);
	const nodes = setups.map(rabbitMqNode);
	const mqttUrls = nodes.map(node => node.mqttUrl);
	const stop = async (): Promise<void> => {
		await Promise.all(nodes.map(node => node.kill()));
		fs.rmSync(dir, { recursive: true, force: true });
	};
	const whole = async (timeoutMs: number): Promise<void> => {
		const deadline = Date.now() + timeoutMs;
		await waitFor(() => nodes.every(node => node.running), timeoutMs, "every RabbitMQ node running");
		await waitForMqttCluster(mqttUrls, Math.max(0, deadline - Date.now()));
	};
	const deadline = Date.now() + FORM_TIMEOUT_MS;
	const left = (): number => Math.max(0, deadline - Date.now());
	try {
		// The first node alone, until it answers CONNECT (its mqtt_node is up); then the others join it. Started all at
		// once, the nodes formed one RabbitMQ cluster but the first node's mqtt_node stayed outside the others' (3.10.8).
		const [first, ...others] = nodes;
		await first.start();
		await waitFor(() => localReach.mqttAnswers(first.mqttUrl), left(), `MQTT on ${first.name}`);
		await Promise.all(others.map(node => node.start()));
		// A node whose MQTT plugin is outside the others' mqtt_node refuses every CONNECT ("Server unavailable").
		await waitFor(
			async () => (await Promise.all(setups.map(setup => raView(setup, MQTT_RA_CLUSTER)))).every(view => view?.members === size),
			left(),
			`every node a member of a ${size}-node ${MQTT_RA_CLUSTER}`,
		);
		await whole(left());
	} catch (err) {
		const logs = nodes.map(node => `${node.name}:\n${node.output().slice(-3000)}`).join("\n");
		await stop();
		throw new Error(`${(err as Error).message}\n${logs}`);
	}
	return {
		nodes,
		mqttUrls,
		async raLeader(raCluster) {
			const leader = async (): Promise<string | undefined> => {
				for (const [i, setup] of setups.entries()) {
					const view = nodes[i].running ? await raView(setup, raCluster) : undefined;
					if (view) return view.leader;
				}
				return undefined;
			};
			const name = await waitFor(leader, 30_000, `a leader of Ra cluster ${raCluster}`);
			return setups.findIndex(setup => setup.name === name);
		},
		whole,
		stop,
	};
}

function writeNodeFiles(setup: NodeSetup, all: NodeSetup[], cookie: string): void {
	const home = path.join(setup.base, "home");
	fs.mkdirSync(home, { recursive: true });
	fs.writeFileSync(path.join(home, ".erlang.cookie"), cookie, { mode: 0o400 });
	fs.writeFileSync(path.join(setup.base, "enabled_plugins"), "[rabbitmq_mqtt].\n");
	// Read instead of /etc/rabbitmq/rabbitmq-env.conf (the system node's name and flags).
	fs.writeFileSync(path.join(setup.base, "rabbitmq-env.conf"), "");
	fs.writeFileSync(
		path.join(setup.base, "rabbitmq.conf"),
		[
			`listeners.tcp.default = 127.0.0.1:${setup.ports.amqp}`,
			`mqtt.listeners.tcp.default = 127.0.0.1:${setup.ports.mqtt}`,
			"mqtt.allow_anonymous = true",
			"loopback_users = none",
			"cluster_formation.peer_discovery_backend = classic_config",
			...all.map((node, n) => `cluster_formation.classic_config.nodes.${n + 1} = ${node.name}`),
			"",
		].join("\n"),
	);
}

/** The environment rabbitmq-server and rabbitmqctl run with for one node: its files, nothing of the system's. */
function nodeEnv(setup: NodeSetup): NodeJS.ProcessEnv {
	const { base } = setup;
	return {
		PATH: process.env.PATH ?? "",
		HOME: path.join(base, "home"),
		RABBITMQ_NODENAME: setup.name,
		RABBITMQ_NODE_PORT: String(setup.ports.amqp),
		RABBITMQ_DIST_PORT: String(setup.ports.dist),
		RABBITMQ_CONF_ENV_FILE: path.join(base, "rabbitmq-env.conf"),
		RABBITMQ_CONFIG_FILE: path.join(base, "rabbitmq.conf"),
		RABBITMQ_ADVANCED_CONFIG_FILE: path.join(base, "advanced.config"),
		RABBITMQ_ENABLED_PLUGINS_FILE: path.join(base, "enabled_plugins"),
		RABBITMQ_MNESIA_BASE: path.join(base, "mnesia"),
		RABBITMQ_LOG_BASE: path.join(base, "log"),
		RABBITMQ_LOGS: "-",
		RABBITMQ_PID_FILE: path.join(base, "pid"),
		// Distribution on loopback only, like the system node's env file does.
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
	};
}

/** A Ra cluster as one node sees it: how many members it has and which node leads; undefined without an answer. */
async function raView(setup: NodeSetup, raCluster: string): Promise<{ members: number; leader: string } | undefined> {
	const expression = `case ra:members({${raCluster}, node()}) of {ok, M, {_, L}} -> {length(M), L}; Other -> Other end.`;
	const answer = await run(RABBITMQCTL, ["-q", "-n", setup.name, "eval", expression], {
		env: nodeEnv(setup),
		timeout: 20_000,
	}).catch(() => undefined);
	const view = /^\{(\d+),'?([^',}]+)'?\}$/.exec(answer?.stdout.trim() ?? "");
	return view ? { members: Number(view[1]), leader: view[2] } : undefined;
}

function rabbitMqNode(setup: NodeSetup): RabbitMqNode {
	const { mqtt } = setup.ports;
	let child: ChildProcess | undefined;
	let exited: Promise<void> = Promise.resolve();
	let output = "";
	const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
	const keep = (chunk: Buffer): void => {
		output = (output + chunk.toString()).slice(-OUTPUT_KEEP);
	};
	return {
		name: setup.name,
		mqttPort: mqtt,
		mqttUrl: `mqtt://127.0.0.1:${mqtt}`,
		get pid() {
			return child?.pid;
		},
		get running() {
			return running();
		},
		output: () => output,
		async kill() {
			const pid = child?.pid;
			if (pid !== undefined && running()) killGroup(pid);
			await exited;
			// beam.smp dies with the script's group; its MQTT port closes once it has.
			await waitFor(async () => !(await localReach.tcpOpen("127.0.0.1", mqtt)), 10_000, `${setup.name}'s MQTT port closed`);
		},
		async start() {
			// A process group of its own, so that kill() reaches beam.smp and its helpers, and only those.
			const started = spawn(RABBITMQ_SERVER, [], { env: nodeEnv(setup), detached: true, stdio: ["ignore", "pipe", "pipe"] });
			child = started;
			const pid = started.pid;
			if (pid !== undefined) liveGroups.add(pid);
			exited = new Promise(resolve =>
				started.once("exit", () => {
					if (pid !== undefined) liveGroups.delete(pid);
					resolve();
				}),
			);
			for (const stream of [started.stdout, started.stderr]) stream?.on("data", keep);
			await waitFor(
				async () => !running() || (await localReach.tcpOpen("127.0.0.1", mqtt)),
				START_TIMEOUT_MS,
				`${setup.name}'s MQTT port ${mqtt}`,
			);
			if (!running())
				throw new Error(`${setup.name} exited (${started.exitCode ?? started.signalCode}) before listening on ${mqtt}`);
		},
	};
}
