/**
 * Side-by-side benchmark of the message path: Chatcast (all-in-one, Redis) against nchan (nginx, memory
 * store and Redis store) and a minimal node:http + Redis baseline (bench/baseline/server.ts), each in
 * turn on the same machine, on loopback. Scenario G: publish throughput (wrk). Scenario A: publish→
 * deliver latency with 1,000 subscribers at a fixed publish rate. Peers that store in Redis get the
 * bench's own redis-server, whose CPU counts into theirs. Progress on stderr; the table on stdout and
 * in bench/results/<date>.md. Missing peers (no nginx, no nchan module) are skipped, never installed.
 *
 *   npm run bench:compare
 *   BENCH_ROUNDS=3 BENCH_PEERS=chatcast,baseline G_SECONDS=5 A_SECONDS=10 A_RATE=200 A_CHANNELS=10 A_SUBSCRIBERS=1000 npm run bench:compare
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import Redis from "ioredis";
import { baseline } from "./peers/baseline";
import { chatcast } from "./peers/chatcast";
import { nchanMemory, nchanRedis } from "./peers/nchan";
import type { Peer } from "./peers/peer";
import { type LatencyResult, deliverLatency } from "./scenarios/deliver-latency";
import { type ThroughputResult, publishThroughput } from "./scenarios/publish-throughput";
import { machine } from "./support/machine";
import { markdownTable } from "./support/markdown";
import { haveRedisServer, startRedis } from "./support/redis-server";

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const G_SECONDS = env("G_SECONDS", 5);
const A = {
	seconds: env("A_SECONDS", 10),
	ratePerSecond: env("A_RATE", 200),
	channels: env("A_CHANNELS", 10),
	perChannel: Math.round(env("A_SUBSCRIBERS", 1000) / env("A_CHANNELS", 10)),
};
const ROUNDS = env("BENCH_ROUNDS", 3);
const ALL: Record<string, Peer> = { chatcast, nchan: nchanMemory, "nchan-redis": nchanRedis, baseline };
const RESULTS = path.resolve(__dirname, "../../bench/results");

interface Measured {
	g?: ThroughputResult;
	a?: LatencyResult;
	note?: string;
}

const log = (line: string): void => {
	process.stderr.write(`[bench:compare] ${line}\n`);
};

/** Both scenarios against one peer; a failing scenario is noted, the other still runs. */
async function measure(peer: Peer, redisUrl: string, redisPid: number): Promise<Measured> {
	const running = await peer.start(redisUrl);
	const pids = [...running.pids, redisPid];
	const measured: Measured = {};
	try {
		log(`${peer.name}: scenario G (wrk -t1 -c32 -d${G_SECONDS}s, 1,000 channels)`);
		measured.g = publishThroughput(running.port, pids, G_SECONDS);
		log(
			`${peer.name}: scenario A (${A.channels * A.perChannel} subscribers on ${A.channels} channels, ${A.ratePerSecond} msg/s for ${A.seconds} s)`,
		);
		measured.a = await deliverLatency(running.port, pids, A);
	} catch (err) {
		measured.note = (err as Error).message.split("\n")[0];
		log(`${peer.name}: failed: ${measured.note}`);
	} finally {
		await running.stop();
	}
	return measured;
}

/** A row: label, which way is better (↑ higher, ↓ lower), the value in one measurement, decimals. */
type Row = [label: string, better: "↑" | "↓", pick: (m: Measured) => number | undefined, digits: number];

const ROWS: Row[] = [
	["G publishes/s", "↑", m => m.g?.perSecond, 0],
	["G p99 latency (ms)", "↓", m => m.g?.p99Ms, 2],
	["G refused (non-2xx)", "↓", m => m.g?.refused, 0],
	["G server CPU (% of a core)", "↓", m => m.g?.serverCpuPercent, 0],
	["G server CPU ms per 1,000 publishes", "↓", m => m.g && (10 * m.g.serverCpuPercent) / (m.g.perSecond / 1000), 0],
	["G wrk CPU (% of a core)", "↓", m => m.g?.wrkCpuPercent, 0],
	["A p50 publish→deliver (ms)", "↓", m => m.a?.p50Ms, 2],
	["A p99 publish→deliver (ms)", "↓", m => m.a?.p99Ms, 2],
	["A delivered (% of expected)", "↑", m => m.a?.deliveredPercent, 1],
	["A publishes refused", "↓", m => m.a?.refused, 0],
	["A server CPU (% of a core)", "↓", m => m.a?.serverCpuPercent, 0],
];

/** The median of the rounds' values for one row (undefined when no round measured it). */
function median(rounds: Measured[], pick: Row[2]): number | undefined {
	const values = rounds.map(pick).filter((v): v is number => v !== undefined && !Number.isNaN(v));
	return values.length === 0 ? undefined : [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

function table(peers: Peer[], results: Map<Peer, Measured[]>): string {
	const ratioOf = peers.includes(chatcast) ? peers.filter(p => p !== chatcast) : [];
	const head = ["", "better", ...peers.map(p => p.name), ...ratioOf.map(p => `Chatcast ÷ ${p.name}`)];
	const cell = (value: number | undefined, digits: number): string =>
		value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);
	const rows = ROWS.map(([label, better, pick, digits]) => {
		const values = peers.map(p => median(results.get(p) ?? [], pick));
		const ours = median(results.get(chatcast) ?? [], pick);
		const ratios = ratioOf.map(p => {
			const theirs = median(results.get(p) ?? [], pick);
			return ours === undefined || theirs === undefined || theirs === 0 ? "–" : (ours / theirs).toFixed(2);
		});
		return [label, better, ...values.map(v => cell(v, digits)), ...ratios];
	});
	return markdownTable(head, rows);
}

async function main(): Promise<void> {
	const chosen = (process.env.BENCH_PEERS ?? Object.keys(ALL).join(",")).split(",").map(name => {
		const peer = ALL[name.trim()];
		if (!peer) throw new Error(`unknown peer ${name}: one of ${Object.keys(ALL).join(", ")}`);
		return peer;
	});
	if (!haveRedisServer()) throw new Error("redis-server is not on the PATH: every Redis-backed peer needs its own");
	const skipped: string[] = [];
	const peers = chosen.filter(peer => {
		const why = peer.missing();
		if (why) skipped.push(`- ${peer.name} skipped: ${why}`);
		if (why) log(`${peer.name} skipped: ${why}`);
		return !why;
	});
	const results = new Map<Peer, Measured[]>(peers.map(peer => [peer, []]));
	const redis = await startRedis();
	const client = new Redis(redis.url);
	try {
		// Peers alternate within each round, so a noisy neighbour on the machine hurts them alike.
		for (let round = 1; round <= ROUNDS; round++) {
			log(`round ${round}/${ROUNDS}`);
			for (const peer of peers) {
				results.get(peer)?.push(await measure(peer, redis.url, redis.pid));
				await client.flushall(); // the next peer starts on an empty Redis
			}
		}
	} finally {
		client.disconnect();
		await redis.stop();
	}
	const notes = [...results].flatMap(([peer, rounds]) => rounds.filter(m => m.note).map(m => `- ${peer.name}: ${m.note}`));
	const report = [
		`# bench:compare, ${new Date().toISOString()}`,
		"",
		...machine(),
		"",
		`G: wrk -t1 -c32 -d${G_SECONDS}s --latency, POST to 1,000 channels, no subscribers.`,
		`A: ${A.channels * A.perChannel} SSE subscribers (${A.perChannel} on each of ${A.channels} channels, one forked Node process), ` +
			`${A.ratePerSecond} msg/s for ${A.seconds} s; latency = receive time − send time embedded in the text.`,
		`Medians of ${ROUNDS} round${ROUNDS === 1 ? "" : "s"} (peers alternate within a round); ratios are Chatcast's median ÷ the peer's.`,
		"Server CPU = the peer's processes (nginx: master + workers) + its Redis (the bench's own redis-server; none for nchan (memory)).",
		"",
		table(peers, results),
		"",
		...skipped,
		...notes,
	]
		.join("\n")
		.trimEnd();
	console.log(report);
	mkdirSync(RESULTS, { recursive: true });
	const file = path.join(RESULTS, `${new Date().toISOString().slice(0, 10)}.md`);
	writeFileSync(file, `${report}\n`);
	log(`written to ${file}`);
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
