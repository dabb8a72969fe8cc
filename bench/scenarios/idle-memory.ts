/**
 * Scenario E, memory per idle stream: `streams` SSE streams spread over 1,000 channels (15 each at 15,000)
 * and over load processes of at most 4,000 streams each; nothing is published. Measures the growth of the
 * resident memory of all the server's processes (its Redis and MQTT broker included) divided by the streams.
 */
import { randomUUID } from "node:crypto";
import { LoadPool } from "../load/pool";
import { rssBytes } from "../support/processes";
import { sleep } from "./deliver-latency";

const PER_PROCESS = 4000;
const CHANNELS = 1000;
/** Time for the servers to settle after the last stream opened (timers, lazy allocations, a GC). */
const SETTLE_MS = 3000;

export interface MemoryResult {
	kbPerStream: number;
	opened: number;
	openSeconds: number;
	rssBeforeMb: number;
	rssAfterMb: number;
}

/**
 * Runs scenario E against `port`; `serverPids` are the roots of every server process tree (Redis and broker too).
 *
 * @example const e = await idleMemory(port, [pid, redisPid], 15000);
 */
export async function idleMemory(port: number, serverPids: number[], streams: number): Promise<MemoryResult> {
	const processes = Math.ceil(streams / PER_PROCESS);
	const pool = new LoadPool(processes);
	try {
		const channelCount = Math.min(CHANNELS, streams);
		const perChannel = Math.ceil(streams / channelCount);
		const channels = Array.from({ length: channelCount }, () => randomUUID());
		const before = rssBytes(serverPids);
		const started = Date.now();
		const share = Math.ceil(channelCount / processes);
		const opened = await pool.open(i => ({
			port,
			mode: "count",
			channels: channels.slice(i * share, (i + 1) * share),
			perChannel,
			concurrency: Math.ceil(200 / processes),
		}));
		const openSeconds = (Date.now() - started) / 1000;
		await sleep(SETTLE_MS);
		const after = rssBytes(serverPids);
		return {
			kbPerStream: (after - before) / 1024 / opened,
			opened,
			openSeconds,
			rssBeforeMb: before / 2 ** 20,
			rssAfterMb: after / 2 ** 20,
		};
	} finally {
		await pool.close();
	}
}
