/**
 * Scenario A, publish→deliver latency: a forked load process (bench/load/subscribers.ts) holds
 * `channels × perChannel` SSE streams; this process publishes at a fixed rate, round-robin over the
 * channels, each text carrying its send time. Measures p50/p99 publish→deliver, the share of expected
 * deliveries that arrived, and the server's CPU while publishing.
 */
import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import http from "node:http";
import path from "node:path";
import type { LatencyReport, OpenRequest } from "../load/subscribers";
import { cpuSeconds } from "../support/processes";
import { monotonicMs } from "../support/stats";

const LOAD = path.resolve(__dirname, "../load/subscribers.js");
/** Time after the last publish for the last deliveries to land. */
const DRAIN_MS = 1500;
/** Time after the streams are open for the servers' subscriptions to settle (Redis SUBSCRIBE, MQTT). */
const SETTLE_MS = 1000;

export interface LatencyOptions {
	channels: number;
	perChannel: number;
	ratePerSecond: number;
	seconds: number;
}

export interface LatencyResult {
	p50Ms: number;
	p99Ms: number;
	deliveredPercent: number;
	published: number;
	refused: number;
	serverCpuPercent: number;
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

type Reply = { type: "ready"; open: number } | { type: "error"; message: string } | LatencyReport;

/** Publishes one message; resolves true for a 2xx answer. */
function publishOne(agent: http.Agent, port: number, channel: string): Promise<boolean> {
	return new Promise(resolve => {
		const req = http.request(
			{
				host: "127.0.0.1",
				port,
				agent,
				method: "POST",
				path: `/api/channels/${channel}/messages`,
				headers: { "Content-Type": "text/plain" },
			},
			res => {
				res.resume();
				resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300);
			},
		);
		req.on("error", () => resolve(false));
		req.end(`bench ${monotonicMs().toFixed(3)}`);
	});
}

/** Publishes `ratePerSecond` for `seconds`, paced against the clock (no drift from slow timers). */
async function publishAtRate(
	port: number,
	channels: string[],
	ratePerSecond: number,
	seconds: number,
): Promise<{ ok: number; refused: number }> {
	const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
	const total = ratePerSecond * seconds;
	const started = monotonicMs();
	const pending: Promise<boolean>[] = [];
	while (pending.length < total) {
		const due = Math.min(total, Math.floor(((monotonicMs() - started) * ratePerSecond) / 1000) + 1);
		while (pending.length < due) pending.push(publishOne(agent, port, channels[pending.length % channels.length]));
		await sleep(2);
	}
	const answers = await Promise.all(pending);
	agent.destroy();
	const ok = answers.filter(Boolean).length;
	return { ok, refused: total - ok };
}

/**
 * Runs scenario A against `port`; `serverPids` are the roots of the server's process trees.
 *
 * @example const a = await deliverLatency(port, [pid], { channels: 10, perChannel: 100, ratePerSecond: 200, seconds: 10 });
 */
export async function deliverLatency(port: number, serverPids: number[], options: LatencyOptions): Promise<LatencyResult> {
	const load = fork(LOAD, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
	const replies: Reply[] = [];
	let waiting: (() => void) | undefined;
	load.on("message", (reply: Reply) => {
		replies.push(reply);
		waiting?.();
	});
	const next = async (): Promise<Reply> => {
		while (replies.length === 0) {
			if (load.exitCode !== null) throw new Error(`subscriber load exited (${load.exitCode})`);
			await new Promise<void>(resolve => {
				waiting = resolve;
				setTimeout(resolve, 1000);
			});
		}
		return replies.shift() as Reply;
	};
	try {
		const channels = Array.from({ length: options.channels }, () => randomUUID());
		const open: OpenRequest = { type: "open", port, channels, perChannel: options.perChannel };
		load.send(open);
		const ready = await next();
		if (ready.type !== "ready")
			throw new Error(`subscribers did not open: ${ready.type === "error" ? ready.message : ready.type}`);
		await sleep(SETTLE_MS);
		const cpuBefore = cpuSeconds(serverPids);
		const started = Date.now();
		const { ok, refused } = await publishAtRate(port, channels, options.ratePerSecond, options.seconds);
		await sleep(DRAIN_MS);
		const serverCpu = cpuSeconds(serverPids) - cpuBefore;
		const wall = (Date.now() - started) / 1000;
		load.send({ type: "report" });
		const report = await next();
		if (report.type !== "latencies") throw new Error(`subscriber load answered ${report.type}`);
		return {
			p50Ms: report.p50,
			p99Ms: report.p99,
			deliveredPercent: (100 * report.count) / (ok * options.perChannel),
			published: ok,
			refused,
			serverCpuPercent: (100 * serverCpu) / wall,
		};
	} finally {
		if (load.exitCode === null) {
			const exited = new Promise(resolve => load.once("exit", resolve));
			load.send({ type: "close" });
			await exited;
		}
	}
}
