/**
 * Scenarios F (resume storm) and E (memory per idle stream) of the issue "The message path at nchan's
 * speed", for two builds of Chatcast side by side in one run: a base (`STORM_BASE`, default /work/main:
 * a checkout whose `dist/` is built) and this checkout. Rounds alternate the two, so the noise of a shared
 * machine falls on both.
 *
 * - F: 10 channels hold 200 messages each; 5,000 streams (500 per channel, from two load processes) open
 *   at once with `Last-Event-ID: 100`. Measured: from the first request until every stream has seq 200
 *   (each checked for gaps and repeats), the history reads it cost (the bench's own Redis: script
 *   calls, which is what a history page read is), and the server's CPU.
 * - E: idle streams (no Last-Event-ID, no traffic) held in steps; the server's resident memory over its
 *   whole process tree (the node and its embedded broker), per stream, measured after each step.
 *
 * Every server is all-in-one (embedded MQTT broker) on the bench's own redis-server, limits off.
 *
 * @example
 *   npm run build && tsc -p bench/tsconfig.json && node dist/bench/storm.js
 *   STORM_ROUNDS=1 STORM_IDLE_STEPS=5000,10000 STORM_BASE=/tmp/base node dist/bench/storm.js
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import Redis from "ioredis";
import type { ResumeReport, ResumeRequest } from "./load/resumers";
import { machine } from "./support/machine";
import { markdownTable } from "./support/markdown";
import { cpuSeconds, readyLine, rssBytes, stopChild } from "./support/processes";
import { startRedis } from "./support/redis-server";
import { monotonicMs } from "./support/stats";

const ROOT = path.resolve(__dirname, "..");
const BUILDS = [
	{ name: "base", root: process.env.STORM_BASE ?? "/work/main" },
	{ name: "this", root: path.resolve(ROOT, "..") },
];
const ROUNDS = Number(process.env.STORM_ROUNDS ?? 3);
const CHANNELS = 10;
const MESSAGES = 200;
const BEHIND = 100;
const STREAMS = Number(process.env.STORM_STREAMS ?? 5000);
const LOADERS = 2;
const IDLE_STEPS = (process.env.STORM_IDLE_STEPS ?? "5000,10000").split(",").map(Number);
const SCENARIOS = (process.env.STORM_SCENARIOS ?? "F,E").split(",");

interface Server {
	port: number;
	pid: number;
	stop(): Promise<void>;
}

async function startServer(root: string, redisUrl: string): Promise<Server> {
	const child = spawn(process.execPath, [path.join(root, "dist/src/bin/start.js")], {
		cwd: root,
		env: {
			PATH: process.env.PATH,
			NODE_ENV: "production",
			PORT: "0",
			EMBEDDED_MQTT_PORT: "0",
			REDIS_URL: redisUrl,
			NAMESPACE: `bench-storm-${randomUUID().slice(0, 8)}`,
			LOG_LEVEL: "warn",
			RATE_LIMITS: "off",
			STREAMS_PER_CLIENT: "100000",
			STREAM_CHANNELS_PER_CLIENT: "100000",
			STREAMS_PER_EDGE: "100000",
		},
		stdio: ["ignore", "pipe", "inherit"],
	});
	const { port } = await readyLine<{ port: number }>(child, "CHATCAST_READY");
	if (child.pid === undefined) throw new Error("no pid");
	return { port, pid: child.pid, stop: () => stopChild(child) };
}

/** Load processes, each holding its share of the streams; resolves when each said `until`. */
class Loaders {
	private readonly children: ChildProcess[] = [];

	constructor(count: number) {
		for (let i = 0; i < count; i++) this.children.push(fork(path.join(__dirname, "load/resumers.js"), { stdio: "inherit" }));
	}

	/** Sends each loader its streams; resolves with every loader's answer of type `until`. */
	open<T>(request: Omit<ResumeRequest, "type" | "perChannel">, perChannel: number, until: string): Promise<T[]> {
		return Promise.all(
			this.children.map(
				child =>
					new Promise<T>((resolve, reject) => {
						const onMessage = (message: { type: string; message?: string }): void => {
							if (message.type === "error") reject(new Error(message.message));
							if (message.type !== until) return;
							child.off("message", onMessage);
							resolve(message as T);
						};
						child.on("message", onMessage);
						child.send({ type: "open", ...request, perChannel: perChannel / this.children.length });
					}),
			),
		);
	}

	async close(): Promise<void> {
		await Promise.all(
			this.children.map(
				child =>
					new Promise<void>(resolve => {
						if (child.exitCode !== null) return resolve();
						child.once("exit", () => resolve());
						child.send({ type: "close" });
					}),
			),
		);
	}
}

async function publish(port: number, channels: string[], count: number): Promise<void> {
	const posts = channels.flatMap(channel => Array.from({ length: count }, (_, i) => ({ channel, i })));
	// In order per channel (seq = i + 1), 10 channels at a time.
	for (let i = 0; i < count; i++)
		await Promise.all(
			posts
				.filter(p => p.i === i)
				.map(async ({ channel }) => {
					const res = await fetch(`http://127.0.0.1:${port}/api/channels/${channel}/messages`, {
						method: "POST",
						headers: { "Content-Type": "application/json" },
						body: JSON.stringify({ text: `storm message ${i} ${"lorem ipsum ".repeat(6)}`, author: "bench" }),
					});
					if (res.status !== 201) throw new Error(`publish answered ${res.status}`);
				}),
		);
}

/** Script calls: a history read is one (EVALSHA, or EVAL the first time, once the script is loaded). */
async function scriptCalls(redis: Redis): Promise<number> {
	const stats = await redis.info("commandstats");
	return [/cmdstat_evalsha:calls=(\d+)/, /cmdstat_eval:calls=(\d+)/].reduce(
		(sum, re) => sum + Number(re.exec(stats)?.[1] ?? 0),
		0,
	);
}

interface StormResult {
	seconds: number;
	historyReads: number;
	cpuSeconds: number;
	errors: number;
	refused: number;
	/** Until the last stream had its 200. */
	openSeconds: number;
	/** The load processes' CPU, summed. */
	loadCpuSeconds: number;
}

async function storm(root: string, redisUrl: string, redis: Redis): Promise<StormResult> {
	const server = await startServer(root, redisUrl);
	try {
		const channels = Array.from({ length: CHANNELS }, () => randomUUID());
		await publish(server.port, channels, MESSAGES);
		const loaders = new Loaders(LOADERS);
		await new Promise(r => setTimeout(r, 500)); // the loaders are up
		const reads = await scriptCalls(redis);
		const cpu = cpuSeconds([server.pid]);
		const started = monotonicMs();
		const reports = await loaders.open<ResumeReport>(
			{
				port: server.port,
				channels,
				lastEventIds: channels.map(() => MESSAGES - BEHIND),
				untilSeqs: channels.map(() => MESSAGES),
			},
			STREAMS / CHANNELS,
			"caughtUp",
		);
		const seconds = (Math.max(...reports.map(r => r.at)) - started) / 1000;
		const result = {
			seconds,
			historyReads: (await scriptCalls(redis)) - reads,
			cpuSeconds: cpuSeconds([server.pid]) - cpu,
			errors: reports.reduce((sum, r) => sum + r.errors, 0),
			refused: reports.reduce((sum, r) => sum + r.refused, 0),
			openSeconds: (Math.max(...reports.map(r => r.openedAt)) - started) / 1000,
			loadCpuSeconds: reports.reduce((sum, r) => sum + r.cpuSeconds, 0),
		};
		await loaders.close();
		return result;
	} finally {
		await server.stop();
	}
}

/** Resident bytes per idle stream after each step of IDLE_STEPS (from the server's idle memory). */
async function idleMemory(root: string, redisUrl: string): Promise<number[]> {
	const server = await startServer(root, redisUrl);
	const settle = (): Promise<void> => new Promise(r => setTimeout(r, 3000));
	const loaders: Loaders[] = [];
	try {
		const channels = Array.from({ length: CHANNELS }, () => randomUUID());
		await settle();
		const idle = rssBytes([server.pid]);
		const perStream: number[] = [];
		let open = 0;
		for (const step of IDLE_STEPS) {
			const more = new Loaders(LOADERS);
			loaders.push(more);
			await more.open({ port: server.port, channels, untilSeqs: channels.map(() => 0) }, (step - open) / CHANNELS, "opened");
			open = step;
			await settle();
			perStream.push((rssBytes([server.pid]) - idle) / open);
		}
		return perStream;
	} finally {
		for (const l of loaders) await l.close();
		await server.stop();
	}
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fixed = (n: number, digits = 2): string => n.toFixed(digits);

async function main(): Promise<void> {
	const redis = await startRedis();
	const client = new Redis(redis.url);
	const storms: Record<string, StormResult[]> = { base: [], this: [] };
	const idles: Record<string, number[][]> = { base: [], this: [] };
	try {
		for (let round = 0; round < ROUNDS; round++) {
			const order = round % 2 === 0 ? BUILDS : [...BUILDS].reverse();
			for (const build of order) {
				if (SCENARIOS.includes("F")) {
					const result = await storm(build.root, redis.url, client);
					storms[build.name].push(result);
					console.error(`round ${round + 1} F ${build.name}: ${JSON.stringify(result)}`);
				}
				if (SCENARIOS.includes("E")) {
					const result = await idleMemory(build.root, redis.url);
					idles[build.name].push(result);
					console.error(`round ${round + 1} E ${build.name}: ${result.map(b => `${fixed(b / 1024)} KB`).join(", ")}`);
				}
			}
		}
	} finally {
		client.disconnect();
		await redis.stop();
	}
	const rows: string[][] = [];
	const row = (label: string, pick: (name: string) => number, digits = 2): void => {
		const [b, t] = [pick("base"), pick("this")];
		rows.push([label, fixed(b, digits), fixed(t, digits), fixed(t / b)]);
	};
	if (SCENARIOS.includes("F")) {
		const f = (name: string, key: keyof StormResult): number => median(storms[name].map(r => r[key]));
		row(`F: ${STREAMS} resumes ${BEHIND} behind, all caught up (s)`, n => f(n, "seconds"));
		row("F: … every stream open (s)", n => f(n, "openSeconds"));
		row("F: history reads", n => f(n, "historyReads"), 0);
		row("F: server CPU (s)", n => f(n, "cpuSeconds"));
		row("F: load processes' CPU (s)", n => f(n, "loadCpuSeconds"));
		row("F: stream opens refused or reset (opened again 1 s later)", n => f(n, "refused"), 0);
		row("F: streams with a gap or repeat", n => f(n, "errors"), 0);
	}
	if (SCENARIOS.includes("E"))
		IDLE_STEPS.forEach((step, i) => {
			row(`E: KB per idle stream at ${step}`, n => median(idles[n].map(r => r[i])) / 1024);
		});
	const table = markdownTable([`median of ${ROUNDS}`, "base", "this", "this ÷ base"], rows);
	const report = [`# Storm bench ${new Date().toISOString()}`, "", ...machine(), "", table, ""].join("\n");
	console.log(report);
	const dir = path.join(ROOT, "../bench/results");
	mkdirSync(dir, { recursive: true });
	writeFileSync(path.join(dir, `storm-${new Date().toISOString().slice(0, 10)}.md`), report);
}

void main().catch(err => {
	console.error(err);
	process.exit(1);
});
