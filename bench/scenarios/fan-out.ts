/**
 * Scenario D, saturating fan-out: `subscribers` SSE streams on one channel, spread over several load
 * processes (one alone saturates first), while wrk publishes to that channel as fast as the server answers.
 * Measures deliveries/s over the wrk window, the server's CPU per delivery, the load's CPU (subscriber
 * processes + wrk) and the streams the server dropped (slow-subscriber protection).
 */
import { randomUUID } from "node:crypto";
import { LoadPool } from "../load/pool";
import { cpuSeconds } from "../support/processes";
import { SETTLE_MS, sleep } from "./deliver-latency";
import { runWrk } from "./publish-throughput";

export interface FanOutOptions {
	subscribers: number;
	loadProcesses: number;
	connections: number;
	seconds: number;
}

export interface FanOutResult {
	deliveriesPerSecond: number;
	publishesPerSecond: number;
	serverCpuPercent: number;
	serverCpuUsPerDelivery: number;
	loadCpuPercent: number;
	dropped: number;
}

/**
 * Runs scenario D against `port`; `serverPids` are the roots of the server's process trees.
 *
 * @example const d = await fanOut(port, [pid], { subscribers: 1000, loadProcesses: 4, connections: 4, seconds: 5 });
 */
export async function fanOut(port: number, serverPids: number[], options: FanOutOptions): Promise<FanOutResult> {
	const pool = new LoadPool(options.loadProcesses);
	try {
		const channel = randomUUID();
		const perProcess = Math.ceil(options.subscribers / options.loadProcesses);
		await pool.open(() => ({ port, mode: "count", channels: [channel], perChannel: perProcess, concurrency: 100 }));
		await sleep(SETTLE_MS);
		const eventsBefore = await pool.events();
		const cpuBefore = cpuSeconds(serverPids);
		const loadBefore = pool.cpuSeconds();
		const started = Date.now();
		const wrk = runWrk(port, options.connections, options.seconds, channel);
		const events = (await pool.events()) - eventsBefore;
		const wall = (Date.now() - started) / 1000;
		const serverCpu = cpuSeconds(serverPids) - cpuBefore;
		const loadCpu = pool.cpuSeconds() - loadBefore + wrk.wrkCpu;
		const reports = await pool.reports();
		return {
			deliveriesPerSecond: events / wall,
			publishesPerSecond: wrk.perSecond,
			serverCpuPercent: (100 * serverCpu) / wall,
			serverCpuUsPerDelivery: events === 0 ? Number.NaN : (1e6 * serverCpu) / events,
			loadCpuPercent: (100 * loadCpu) / wall,
			dropped: reports.reduce((sum, r) => sum + r.dropped, 0),
		};
	} finally {
		await pool.close();
	}
}
