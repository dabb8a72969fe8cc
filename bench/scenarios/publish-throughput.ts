/**
 * Scenario G, publish throughput: `wrk -t1 -c32 -d<s>s --latency` POSTs short text messages to 1,000
 * channels with no subscribers (bench/wrk-publish.lua). Measures publishes/s, p99 latency, refusals, the
 * server's CPU and wrk's own CPU (from /usr/bin/time: a saturated wrk would cap the rate, not the server).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { cpuSeconds } from "../support/processes";

const SCRIPT = path.resolve(__dirname, "../../../bench/wrk-publish.lua");

export interface WrkResult {
	perSecond: number;
	p99Ms: number;
	refused: number;
	/** wrk's own CPU seconds. */
	wrkCpu: number;
}

export interface ThroughputResult {
	perSecond: number;
	p99Ms: number;
	refused: number;
	serverCpuPercent: number;
	wrkCpuPercent: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/**
 * `wrk -t1 -c<connections> -d<seconds>s` publishing to `port` (to `channel` only, when given).
 *
 * @example const { perSecond } = runWrk(port, 32, 5);
 */
export function runWrk(port: number, connections: number, seconds: number, channel?: string): WrkResult {
	const run = spawnSync(
		"/usr/bin/time",
		[
			"-f",
			"WRK_CPU %U %S",
			"wrk",
			"-t1",
			`-c${connections}`,
			`-d${seconds}s`,
			"--latency",
			"-s",
			SCRIPT,
			`http://127.0.0.1:${port}`,
		],
		{ encoding: "utf8", env: { ...process.env, ...(channel ? { BENCH_CHANNEL: channel } : {}) } },
	);
	const rate = /Requests\/sec:\s+([\d.]+)/.exec(run.stdout);
	const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(run.stdout);
	const wrkCpu = /WRK_CPU ([\d.]+) ([\d.]+)/.exec(run.stderr);
	if (!rate || !p99 || !wrkCpu) throw new Error(`wrk printed no rate or latency: ${run.stdout}${run.stderr}`);
	return {
		perSecond: Number(rate[1]),
		p99Ms: Number(p99[1]) * UNIT_MS[p99[2]],
		refused: Number(/Non-2xx or 3xx responses: (\d+)/.exec(run.stdout)?.[1] ?? 0),
		wrkCpu: Number(wrkCpu[1]) + Number(wrkCpu[2]),
	};
}

/**
 * Runs scenario G against `port` for `seconds`; `serverPids` are the roots of the server's process trees.
 *
 * @example const g = publishThroughput(port, [pid], 5); console.log(g.perSecond);
 */
export function publishThroughput(port: number, serverPids: number[], seconds: number): ThroughputResult {
	// A discarded second first, so that a JIT (Node) is measured warm, as it runs in production.
	runWrk(port, 32, 1);
	const cpuBefore = cpuSeconds(serverPids);
	const started = Date.now();
	const wrk = runWrk(port, 32, seconds);
	const wall = (Date.now() - started) / 1000;
	const serverCpu = cpuSeconds(serverPids) - cpuBefore;
	return {
		perSecond: wrk.perSecond,
		p99Ms: wrk.p99Ms,
		refused: wrk.refused,
		serverCpuPercent: (100 * serverCpu) / wall,
		wrkCpuPercent: (100 * wrk.wrkCpu) / wall,
	};
}
