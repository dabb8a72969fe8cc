/**
 * Scenario A, publish→deliver latency: one load process (bench/load/subscribers.ts) holds
 * `channels × perChannel` SSE streams; this process publishes at a fixed rate, round-robin over the
 * channels, each text carrying its send time. Measures p50/p99 publish→deliver, the share of expected
 * deliveries that arrived, and the server's and the load process's CPU while publishing — after a warm-up
 * at the same rate (every peer alike), so the tail is the steady state's, not the first messages' (JIT,
 * first subscriptions).
 */
import { randomUUID } from "node:crypto";
import { LoadPool } from "../load/pool";
import { cpuSeconds } from "../support/processes";
import { publishAtRate } from "../support/publish";

/** Time after the last publish for the last deliveries to land. */
const DRAIN_MS = 1500;
/** Publishing at the measured rate before the measurement; what it delivers is not counted. */
const WARM_UP_SECONDS = 2;
/** Time after the streams are open for the servers' subscriptions to settle (Redis SUBSCRIBE, MQTT). */
export const SETTLE_MS = 1000;

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
	refused: number;
	serverCpuPercent: number;
	loadCpuPercent: number;
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Runs scenario A against `port`; `serverPids` are the roots of the server's process trees.
 *
 * @example const a = await deliverLatency(port, [pid], { channels: 10, perChannel: 100, ratePerSecond: 200, seconds: 10 });
 */
export async function deliverLatency(port: number, serverPids: number[], options: LatencyOptions): Promise<LatencyResult> {
	const pool = new LoadPool(1);
	try {
		const channels = Array.from({ length: options.channels }, () => randomUUID());
		await pool.open(() => ({ port, mode: "latency", channels, perChannel: options.perChannel, concurrency: 100 }));
		await sleep(SETTLE_MS);
		await publishAtRate(port, channels, options.ratePerSecond, WARM_UP_SECONDS);
		await sleep(DRAIN_MS);
		await pool.reset();
		const cpuBefore = cpuSeconds(serverPids);
		const loadBefore = pool.cpuSeconds();
		const started = Date.now();
		const { ok, refused } = await publishAtRate(port, channels, options.ratePerSecond, options.seconds);
		await sleep(DRAIN_MS);
		const serverCpu = cpuSeconds(serverPids) - cpuBefore;
		const loadCpu = pool.cpuSeconds() - loadBefore;
		const wall = (Date.now() - started) / 1000;
		const [report] = await pool.reports();
		return {
			p50Ms: report.p50,
			p99Ms: report.p99,
			deliveredPercent: (100 * report.events) / (ok * options.perChannel),
			refused,
			serverCpuPercent: (100 * serverCpu) / wall,
			loadCpuPercent: (100 * loadCpu) / wall,
		};
	} finally {
		await pool.close();
	}
}
