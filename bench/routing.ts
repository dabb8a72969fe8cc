/**
 * Scenario H of the perf issue: what the MQTT broker carries per published message as the number of
 * edges grows, when the channel's only subscriber is on one edge.
 *
 * For each build (ROUTING_BUILDS="label=/path/to/checkout,…", default this checkout) and each number of
 * edges (ROUTING_EDGES, default 1,2,4,8): a private Mosquitto on a free port (`sys_interval 1`,
 * `set_tcp_nodelay true`), a private redis-server, one core process (`api,ingest,history`) and N edge
 * processes (`api,broadcast`), one SSE subscriber on the first edge. It reads the broker's `$SYS`
 * counters over an idle window (heartbeats, presence, $SYS itself) and over a window in which
 * ROUTING_MESSAGES messages are published to the core, and reports the difference per message:
 * PUBLISH packets the broker sent and received, and bytes it sent. Also the p99 of sentAt → arrival at
 * the subscriber (ms resolution, under a burst of 4 concurrent publishers: indicative only).
 *
 * @example
 *   npm run build && npx tsc -p bench/tsconfig.json && ROUTING_BUILDS=before=/tmp/base,after=. node dist/bench/routing.js
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get, request } from "node:http";
import os from "node:os";
import path from "node:path";
import { connect } from "mqtt";
import { markdownTable } from "./support/markdown";
import { freePort, readyLine, stopChild, waitForPort } from "./support/processes";
import { startRedis } from "./support/redis-server";
import { percentile } from "./support/stats";

const SECRET = "bench-routing-secret-0123456789abcdef";
const COUNTERS = {
	publishSent: "$SYS/broker/publish/messages/sent",
	publishReceived: "$SYS/broker/publish/messages/received",
	bytesSent: "$SYS/broker/bytes/sent",
} as const;
type Counter = keyof typeof COUNTERS;
type Counters = Record<Counter, number>;

const builds = (process.env.ROUTING_BUILDS ?? `current=${path.resolve(__dirname, "../..")}`).split(",").map(entry => {
	const [label, root] = entry.split("=");
	return { label, start: path.resolve(root, "dist/src/bin/start.js") };
});
const edgeCounts = (process.env.ROUTING_EDGES ?? "1,2,4,8").split(",").map(Number);
const messages = Number(process.env.ROUTING_MESSAGES ?? 1000);
const idleSeconds = Number(process.env.ROUTING_IDLE_SECONDS ?? 10);

/** A private Mosquitto that reports its counters every second. */
async function startMosquitto(): Promise<{ port: number; child: ChildProcess; dir: string }> {
	const port = await freePort();
	const dir = mkdtempSync(path.join(os.tmpdir(), "bench-routing-"));
	const conf = path.join(dir, "mosquitto.conf");
	writeFileSync(
		conf,
		[
			`listener ${port} 127.0.0.1`,
			"allow_anonymous true",
			"sys_interval 1",
			"set_tcp_nodelay true",
			"persistence false",
			"",
		].join("\n"),
	);
	const child = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
	await waitForPort(port, child);
	return { port, child, dir };
}

/** The latest value of each $SYS counter; `fresh()` waits for values published after it was called. */
async function watchCounters(url: string): Promise<{ fresh(): Promise<Counters>; close(): Promise<void> }> {
	const client = connect(url);
	const latest = new Map<string, { value: number; at: number }>();
	client.on("message", (topic, payload) => latest.set(topic, { value: Number(payload.toString()), at: Date.now() }));
	await new Promise<void>(resolve => client.once("connect", () => resolve()));
	await client.subscribeAsync(Object.values(COUNTERS));
	return {
		async fresh() {
			const asked = Date.now();
			for (;;) {
				const entries = Object.entries(COUNTERS).map(([name, topic]) => [name, latest.get(topic)] as const);
				if (entries.every(([, seen]) => seen !== undefined && seen.at > asked)) {
					return Object.fromEntries(entries.map(([name, seen]) => [name, seen?.value ?? 0])) as Counters;
				}
				await sleep(50);
			}
		},
		close: () => client.endAsync(),
	};
}

function startNode(start: string, services: string, env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
	const child = spawn(process.execPath, [start], {
		env: {
			PATH: process.env.PATH,
			NODE_ENV: "production",
			PORT: "0",
			LOG_LEVEL: "warn",
			RATE_LIMITS: "off",
			SERVICES: services,
			...env,
		},
		stdio: ["ignore", "pipe", "inherit"],
	});
	return readyLine<{ port: number }>(child, "CHATCAST_READY").then(({ port }) => ({ child, port }));
}

/** An SSE stream that counts its `message` events and how long after its `sentAt` each arrived (same host, same clock). */
function subscribe(url: string): Promise<{ count(): number; latenciesMs: number[]; close(): void }> {
	return new Promise((resolve, reject) => {
		const latenciesMs: number[] = [];
		const req = get(url, { agent: false, headers: { Accept: "text/event-stream" } }, res => {
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => {
				const now = Date.now();
				for (const match of chunk.matchAll(/"sentAt":"([^"]+)"/g)) latenciesMs.push(now - Date.parse(match[1]));
			});
			resolve({ count: () => latenciesMs.length, latenciesMs, close: () => req.destroy() });
		});
		req.on("error", reject);
	});
}

function post(port: number, channel: string, text: string): Promise<number> {
	return new Promise((resolve, reject) => {
		const req = request(
			{
				host: "127.0.0.1",
				port,
				method: "POST",
				path: `/api/channels/${channel}/messages`,
				headers: { "Content-Type": "text/plain" },
			},
			res => {
				res.resume();
				res.on("end", () => resolve(res.statusCode ?? 0));
			},
		);
		req.on("error", reject);
		req.end(text);
	});
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

async function waitUntil(done: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await done())) {
		if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
		await sleep(100);
	}
}

async function ready(port: number): Promise<boolean> {
	return new Promise(resolve => {
		get({ host: "127.0.0.1", port, path: "/api/ready" }, res => {
			res.resume();
			resolve(res.statusCode === 200);
		}).on("error", () => resolve(false));
	});
}

/** One measurement: the broker's work per published message with `edges` edges. */
async function measure(start: string, edges: number): Promise<Counters & { delivered: number; p99Ms: number }> {
	const mosquitto = await startMosquitto();
	const redis = await startRedis();
	const url = `mqtt://127.0.0.1:${mosquitto.port}`;
	const env = {
		MQTT_URL: url,
		REDIS_URL: redis.url,
		CLUSTER_SECRET: SECRET,
		NAMESPACE: `bench-routing-${randomUUID().slice(0, 8)}`,
	};
	const nodes: ChildProcess[] = [];
	try {
		const core = await startNode(start, "api,ingest,history", env);
		nodes.push(core.child);
		const started = await Promise.all(Array.from({ length: edges }, () => startNode(start, "api,broadcast", env)));
		nodes.push(...started.map(e => e.child));
		for (const edge of started) await waitUntil(() => ready(edge.port), 30_000, "edge ready");
		const channel = randomUUID();
		const stream = await subscribe(`http://127.0.0.1:${started[0].port}/api/channels/${channel}/events`);
		await sleep(2000);
		const counters = await watchCounters(url);

		const idleStart = await counters.fresh();
		const idleFrom = Date.now();
		await sleep(idleSeconds * 1000);
		const idleEnd = await counters.fresh();
		const idleMs = Date.now() - idleFrom;

		const loadStart = await counters.fresh();
		const loadFrom = Date.now();
		let next = 0;
		const publisher = async (): Promise<void> => {
			while (next < messages) {
				next++;
				const status = await post(core.port, channel, `routing ${next}`);
				if (status !== 201) throw new Error(`publish answered ${status}`);
			}
		};
		await Promise.all([publisher(), publisher(), publisher(), publisher()]);
		await waitUntil(() => stream.count() >= messages, 30_000, "every message delivered");
		const loadEnd = await counters.fresh();
		const loadMs = Date.now() - loadFrom;
		stream.close();
		await counters.close();

		const perMessage = (name: Counter): number => {
			const idle = ((idleEnd[name] - idleStart[name]) / idleMs) * loadMs;
			return (loadEnd[name] - loadStart[name] - idle) / messages;
		};
		return {
			publishSent: perMessage("publishSent"),
			publishReceived: perMessage("publishReceived"),
			bytesSent: perMessage("bytesSent"),
			delivered: stream.count(),
			p99Ms: percentile(stream.latenciesMs, 0.99),
		};
	} finally {
		await Promise.all(nodes.map(child => stopChild(child)));
		await redis.stop();
		await stopChild(mosquitto.child);
		rmSync(mosquitto.dir, { recursive: true, force: true });
	}
}

async function main(): Promise<void> {
	const rows: string[][] = [];
	for (const edges of edgeCounts) {
		for (const build of builds) {
			process.stderr.write(`H: ${build.label}, ${edges} edge(s)…\n`);
			const result = await measure(build.start, edges);
			rows.push([
				build.label,
				String(edges),
				result.publishReceived.toFixed(2),
				result.publishSent.toFixed(2),
				result.bytesSent.toFixed(0),
				String(result.delivered),
				result.p99Ms.toFixed(0),
			]);
		}
	}
	const head = [
		"build",
		"edges",
		"PUBLISH in / message",
		"PUBLISH out / message",
		"bytes out / message",
		"delivered",
		"p99 sentAt→deliver (ms)",
	];
	console.log(markdownTable(head, rows));
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
