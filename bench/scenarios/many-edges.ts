/**
 * Scenario H, many edges: the shipped topology (one core) with 1, 2, 4, 8 edge processes on one Mosquitto,
 * every subscriber (10 channels × 10 streams) on the first edge, publishes at a fixed rate through that edge.
 * Reads the broker's `$SYS` counters (updated every second) around an idle window and a publishing window of
 * the same length and reports, per published message, what the broker sent and received beyond the idle
 * traffic (heartbeats, discovery): with interest-based routing it stays flat as edges are added.
 */
import { randomUUID } from "node:crypto";
import { LoadPool } from "../load/pool";
import { startSeparateEdges } from "../peers/chatcast";
import { type BrokerCounters, brokerCounters } from "../support/mosquitto";
import { publishAtRate } from "../support/publish";
import { SETTLE_MS, sleep } from "./deliver-latency";

/** Time for the deliveries and one `$SYS` update (sys_interval 1) after the last publish. */
const SYS_MS = 1500;

export interface EdgesOptions {
	edges: number[];
	seconds: number;
	ratePerSecond: number;
}

export interface EdgesResult {
	edges: number;
	published: number;
	deliveredPercent: number;
	messagesSent: number;
	messagesReceived: number;
	bytesSent: number;
	bytesReceived: number;
}

const KEYS: (keyof BrokerCounters)[] = ["messagesSent", "messagesReceived", "bytesSent", "bytesReceived"];

/**
 * Runs scenario H for each edge count, against the Chatcast build in `dir`.
 *
 * @example const rows = await manyEdges(dir, redisUrl, { edges: [1, 2, 4, 8], seconds: 5, ratePerSecond: 200 }, log);
 */
export async function manyEdges(
	dir: string,
	redisUrl: string,
	options: EdgesOptions,
	log: (line: string) => void,
): Promise<EdgesResult[]> {
	const results: EdgesResult[] = [];
	for (const edges of options.edges) {
		log(`H: ${edges} edge${edges === 1 ? "" : "s"} + core on one Mosquitto`);
		const cluster = await startSeparateEdges(dir, redisUrl, edges);
		const pool = new LoadPool(1);
		try {
			const channels = Array.from({ length: 10 }, () => randomUUID());
			await pool.open(() => ({ port: cluster.ports[0], mode: "count", channels, perChannel: 10, concurrency: 20 }));
			await sleep(SETTLE_MS + SYS_MS);
			const idleStart = await brokerCounters(cluster.brokerUrl);
			const t0 = Date.now();
			await sleep(options.seconds * 1000);
			const idleEnd = await brokerCounters(cluster.brokerUrl);
			const t1 = Date.now();
			const { ok } = await publishAtRate(cluster.ports[0], channels, options.ratePerSecond, options.seconds);
			await sleep(SYS_MS);
			const end = await brokerCounters(cluster.brokerUrl);
			const t2 = Date.now();
			const events = await pool.events();
			const perMessage = (key: keyof BrokerCounters): number => {
				const idlePerMs = (idleEnd[key] - idleStart[key]) / (t1 - t0);
				return (end[key] - idleEnd[key] - idlePerMs * (t2 - t1)) / ok;
			};
			const [messagesSent, messagesReceived, bytesSent, bytesReceived] = KEYS.map(perMessage);
			results.push({
				edges,
				published: ok,
				deliveredPercent: (100 * events) / (ok * 10),
				messagesSent,
				messagesReceived,
				bytesSent,
				bytesReceived,
			});
		} finally {
			await pool.close();
			await cluster.stop();
		}
	}
	return results;
}
