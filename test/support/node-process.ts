/**
 * Real Chatcast nodes for integration tests: each is its own OS process (`node dist/src/bin/start.js`),
 * joined to the real MQTT broker and Redis under a namespace unique to the test run.
 *
 * @example
 *   const ns = uniqueNamespace();
 *   const core = await startNode({ namespace: ns, services: ["api", "ingest", "history"] });
 *   const edge = await startNode({ namespace: ns, services: ["api", "broadcast"] });
 *   await fetch(`${core.baseUrl}/api/channels/${channel}/messages`, …);
 *   await edge.stop();
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import path from "node:path";

/** The checkout: two folders up from test/support, or three from its build (dist/test/support, for bench/). */
export const ROOT = ((up: string): string => (path.basename(up) === "dist" ? path.dirname(up) : up))(
	path.resolve(__dirname, "../.."),
);
export const MQTT_URL = process.env.MQTT_URL ?? "mqtt://127.0.0.1:1883";
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
/**
 * Where a test process runs: this machine's loopback (LOCALHOST), or another host such as a network
 * namespace (test/support/netns.ts), which starts the process there.
 */
export interface ProcessHost {
	/** The address its servers listen on and are reached at. */
	address: string;
	spawn(file: string, args: string[], options: SpawnOptions): ChildProcess;
}

export const LOCALHOST: ProcessHost = { address: "127.0.0.1", spawn: (file, args, options) => spawn(file, args, options) };

/** The cluster secret every test node seals its transporter packets with (the broker is shared: see uniqueNamespace). */
export const CLUSTER_SECRET = "test-cluster-secret-0123456789abcdef";

export interface NodeOptions {
	namespace: string;
	/** Default: all services. */
	services?: string[];
	/** Default 0: any free port. */
	port?: number;
	/** Extra environment (HISTORY_LIMIT, REDIS_URL, …). */
	env?: Record<string, string>;
	/** Where it runs (default LOCALHOST); elsewhere it listens on the host's address. */
	host?: ProcessHost;
	/** How long to wait for CHATCAST_READY. */
	timeoutMs?: number;
}

export interface ChatcastNode {
	nodeID: string;
	port: number;
	baseUrl: string;
	pid: number;
	/** Everything the process printed, for diagnosing a failure. */
	output(): string;
	/** SIGTERM and wait for exit (graceful); resolves with the exit code. */
	stop(): Promise<number | null>;
	/** Sends a signal and waits for exit. */
	kill(signal?: NodeJS.Signals): Promise<number | null>;
	readonly exited: boolean;
}

/** A namespace (and Redis key prefix) nobody else uses. */
export function uniqueNamespace(label = "test"): string {
	return `${label}-${randomUUID().slice(0, 8)}`;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
	for (const child of running) child.kill("SIGKILL");
});

export async function startNode(options: NodeOptions): Promise<ChatcastNode> {
	const nodeID = `${options.namespace}-${(options.services ?? ["all"]).join("_")}-${randomUUID().slice(0, 6)}`;
	const host = options.host ?? LOCALHOST;
	const child = host.spawn(process.execPath, [path.join(ROOT, "dist/src/bin/start.js")], {
		cwd: ROOT,
		env: {
			PATH: process.env.PATH ?? "",
			HOME: process.env.HOME ?? "",
			MQTT_URL,
			REDIS_URL,
			CLUSTER_SECRET,
			// Tests publish faster than a person types; the abuse tests turn the limits back on.
			RATE_LIMITS: "off",
			NAMESPACE: options.namespace,
			NODE_ID: nodeID,
			PORT: String(options.port ?? 0),
			SERVICES: (options.services ?? ["api", "ingest", "history", "broadcast"]).join(","),
			LOG_LEVEL: "warn",
			...(host === LOCALHOST ? {} : { HOST: host.address }),
			...options.env,
		},
		stdio: ["ignore", "pipe", "pipe"],
	});
	running.add(child);
	let output = "";
	const exit = new Promise<number | null>(resolve =>
		child.once("exit", code => {
			running.delete(child);
			resolve(code);
		}),
	);

	const ready = await new Promise<{ port: number }>((resolve, reject) => {
		const timer = setTimeout(
			() => reject(new Error(`node ${nodeID} not ready in time:\n${output}`)),
			options.timeoutMs ?? 20_000,
		);
		const onData = (chunk: Buffer): void => {
			output += chunk.toString();
			const match = /CHATCAST_READY (\{.*\})/.exec(output);
			if (match) {
				clearTimeout(timer);
				resolve(JSON.parse(match[1]) as { port: number });
			}
		};
		child.stdout?.on("data", onData);
		child.stderr?.on("data", (chunk: Buffer) => {
			output += chunk.toString();
		});
		void exit.then(code => {
			clearTimeout(timer);
			reject(new Error(`node ${nodeID} exited (${code}) before ready:\n${output}`));
		});
	});

	const kill = async (signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> => {
		if (child.exitCode === null && child.signalCode === null) child.kill(signal);
		return exit;
	};
	return {
		nodeID,
		port: ready.port,
		baseUrl: `http://${host.address}:${ready.port}`,
		// Defined: the process printed CHATCAST_READY.
		pid: child.pid ?? -1,
		output: () => output,
		stop: () => kill("SIGTERM"),
		kill,
		get exited() {
			return child.exitCode !== null || child.signalCode !== null;
		},
	};
}

/** Polls until `check` returns a truthy value (or throws the last error after `timeoutMs`). */
export async function waitFor<T>(
	check: () => T | Promise<T>,
	timeoutMs = 10_000,
	what = "condition",
): Promise<Exclude<T, false | null | undefined | 0 | "">> {
	const deadline = Date.now() + timeoutMs;
	let lastError: unknown;
	for (;;) {
		try {
			const value = await check();
			if (value) return value as Exclude<T, false | null | undefined | 0 | "">;
		} catch (err) {
			lastError = err;
		}
		if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
		await new Promise(r => setTimeout(r, 50));
	}
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot take port 0). */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer().listen(0, "127.0.0.1", () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
		server.on("error", reject);
	});
}

/** The JSON log lines (LOG_FORMAT=json) a node printed for one request id, parsed. */
export function logEntriesOf(node: ChatcastNode, requestID: string): Array<Record<string, unknown>> {
	return node
		.output()
		.split("\n")
		.filter(line => line.startsWith("{"))
		.map(line => JSON.parse(line) as Record<string, unknown>)
		.filter(entry => entry.requestID === requestID);
}
