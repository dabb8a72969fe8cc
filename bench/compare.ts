/**
 * Side-by-side benchmark of the message path (issue "The message path at nchan's speed"): Chatcast (embedded
 * default, all-in-one on Redis, the pm2 topology of ecosystem.config.js) against nchan (memory and Redis stores)
 * and a minimal node:http baseline (bench/baseline/server.ts), on loopback, one peer at a time, peers
 * alternating within each round. Scenarios: A latency, D saturating fan-out, E memory per idle stream,
 * F resume storm, G publish throughput, H many edges (Chatcast only). Progress on stderr; the tables on stdout
 * and in bench/results/<date>.md. Missing peers are skipped with a line saying why, never installed.
 *
 *   npm run bench                                     # everything, 3 rounds
 *   npm run bench -- --quick --scenarios A,F --peers chatcast-redis,nchan-redis
 *   npm run bench -- --chatcast-dir /work/main --chatcast-dir /work/wt/perf-publish --peers chatcast-pm2,nchan-redis
 */
import path from "node:path";
import Redis from "ioredis";
import { baseline } from "./peers/baseline";
import { chatcastPeers } from "./peers/chatcast";
import { nchanMemory, nchanRedis } from "./peers/nchan";
import type { Peer } from "./peers/peer";
import { type LatencyResult, deliverLatency } from "./scenarios/deliver-latency";
import { type FanOutResult, fanOut } from "./scenarios/fan-out";
import { type MemoryResult, idleMemory } from "./scenarios/idle-memory";
import { type EdgesResult, manyEdges } from "./scenarios/many-edges";
import { type ThroughputResult, publishThroughput } from "./scenarios/publish-throughput";
import { type StormResult, resumeStorm } from "./scenarios/resume-storm";
import { type Options, parseOptions, USAGE } from "./support/options";
import { machine } from "./support/machine";
import { markdownTable, writeReport } from "./support/markdown";
import { haveRedisServer, startRedis } from "./support/redis-server";

interface Measured {
	a?: LatencyResult;
	d?: FanOutResult;
	e?: MemoryResult;
	f?: StormResult;
	g?: ThroughputResult;
	notes: string[];
}

const log = (line: string): void => {
	process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** Redis INFO commandstats: calls of every command so far, INFO itself left out. */
async function redisCalls(client: Redis): Promise<number> {
	const info = await client.info("commandstats");
	let calls = 0;
	for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (match[1] !== "info") calls += Number(match[2]);
	return calls;
}

/** The chosen scenarios against one peer; a failing scenario is noted, the others still run. */
async function measure(
	peer: Peer,
	options: Options,
	round: number,
	redis: { url: string; pid: number; client: Redis },
): Promise<Measured> {
	const running = await peer.start(redis.url);
	const pids = peer.store === "redis" ? [...running.pids, redis.pid] : running.pids;
	const measured: Measured = { notes: [] };
	const run = async (scenario: string, what: string, body: () => Promise<void>): Promise<void> => {
		if (!options.scenarios.includes(scenario)) return;
		log(`${peer.name}: ${scenario} (${what})`);
		try {
			await body();
		} catch (err) {
			const note = `${scenario}: ${(err as Error).message.split("\n")[0]}`;
			measured.notes.push(note);
			log(`${peer.name}: failed: ${note}`);
		}
	};
	const { sizes } = options;
	try {
		// E first, on a fresh server: the other scenarios leave garbage a later GC would subtract from its growth.
		if (round === 1)
			await run("E", `${sizes.eStreams} idle streams`, async () => {
				measured.e = await idleMemory(running.port, pids, sizes.eStreams);
			});
		await run("G", `wrk -c32 -d${sizes.gSeconds}s, 1,000 channels`, async () => {
			measured.g = publishThroughput(running.port, pids, sizes.gSeconds);
		});
		await run("A", `1,000 subscribers, 10 channels, ${sizes.aRate} msg/s for ${sizes.aSeconds} s`, async () => {
			measured.a = await deliverLatency(running.port, pids, {
				channels: 10,
				perChannel: 100,
				ratePerSecond: sizes.aRate,
				seconds: sizes.aSeconds,
			});
		});
		await run(
			"D",
			`1,000 subscribers on 1 channel over ${sizes.dLoadProcesses} load processes, wrk -c32 -d${sizes.dSeconds}s`,
			async () => {
				measured.d = await fanOut(running.port, pids, {
					subscribers: 1000,
					loadProcesses: sizes.dLoadProcesses,
					connections: 32,
					seconds: sizes.dSeconds,
				});
			},
		);
		await run("F", `${sizes.fSubscribers} subscribers on 10 channels resume 100 behind`, async () => {
			const calls = peer.store === "redis" ? () => redisCalls(redis.client) : undefined;
			measured.f = await resumeStorm(running.port, pids, { subscribers: sizes.fSubscribers, channels: 10, behind: 100 }, calls);
		});
	} finally {
		await running.stop();
	}
	return measured;
}

/** A row: scenario, label, which way is better (↑ higher, ↓ lower), the value in one measurement, decimals. */
type Row = [scenario: string, label: string, better: "↑" | "↓", pick: (m: Measured) => number | undefined, digits: number];

const ROWS: Row[] = [
	["A", "A p50 publish→deliver (ms)", "↓", m => m.a?.p50Ms, 2],
	["A", "A p99 publish→deliver (ms)", "↓", m => m.a?.p99Ms, 2],
	["A", "A delivered (% of expected)", "↑", m => m.a?.deliveredPercent, 1],
	["A", "A publishes refused", "↓", m => m.a?.refused, 0],
	["A", "A server CPU (% of a core)", "↓", m => m.a?.serverCpuPercent, 0],
	["A", "A load CPU (% of a core)", "↓", m => m.a?.loadCpuPercent, 0],
	["D", "D deliveries/s (k)", "↑", m => m.d && m.d.deliveriesPerSecond / 1000, 0],
	["D", "D publishes/s", "↑", m => m.d?.publishesPerSecond, 0],
	["D", "D server CPU µs per delivery", "↓", m => m.d?.serverCpuUsPerDelivery, 2],
	["D", "D server CPU (% of a core)", "↓", m => m.d?.serverCpuPercent, 0],
	["D", "D load CPU (% of a core)", "↓", m => m.d?.loadCpuPercent, 0],
	["D", "D streams dropped by the server", "↓", m => m.d?.dropped, 0],
	["E", "E KB per idle stream", "↓", m => m.e?.kbPerStream, 1],
	["E", "E streams open", "↑", m => m.e?.opened, 0],
	["E", "E seconds to open them", "↓", m => m.e?.openSeconds, 1],
	["E", "E server RSS with them (MB)", "↓", m => m.e?.rssAfterMb, 0],
	["F", "F all caught up (s)", "↓", m => m.f?.caughtUpSeconds, 2],
	["F", "F fewest events per stream", "↑", m => m.f?.minEvents, 0],
	["F", "F most events per stream", "↓", m => m.f?.maxEvents, 0],
	["F", "F Redis commands per subscriber", "↓", m => m.f?.redisCommandsPerSubscriber, 2],
	["F", "F server CPU (s)", "↓", m => m.f?.serverCpuSeconds, 2],
	["G", "G publishes/s", "↑", m => m.g?.perSecond, 0],
	["G", "G p99 latency (ms)", "↓", m => m.g?.p99Ms, 2],
	["G", "G refused (non-2xx)", "↓", m => m.g?.refused, 0],
	["G", "G server CPU (% of a core)", "↓", m => m.g?.serverCpuPercent, 0],
	["G", "G server CPU ms per 1,000 publishes", "↓", m => m.g && (10 * m.g.serverCpuPercent) / (m.g.perSecond / 1000), 0],
	["G", "G wrk CPU (% of a core)", "↓", m => m.g?.wrkCpuPercent, 0],
];

/** The median of the rounds' values for one row (undefined when no round measured it). */
function median(rounds: Measured[], pick: Row[3]): number | undefined {
	const values = rounds.map(pick).filter((v): v is number => v !== undefined && !Number.isNaN(v));
	return values.length === 0 ? undefined : [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

const cell = (value: number | undefined, digits: number): string =>
	value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);

class Results {
	constructor(
		readonly peers: Peer[],
		readonly rounds: Map<Peer, Measured[]>,
		readonly options: Options,
	) {}

	value(peer: Peer | undefined, pick: Row[3]): number | undefined {
		return peer ? median(this.rounds.get(peer) ?? [], pick) : undefined;
	}

	/** The nchan peer a Chatcast peer is compared with: the same store, else the other. */
	nchanFor(peer: Peer): Peer | undefined {
		const nchans = this.peers.filter(p => p.family === "nchan");
		return nchans.find(p => p.store === peer.store) ?? nchans[0];
	}

	get chatcasts(): Peer[] {
		return this.peers.filter(p => p.family === "chatcast");
	}

	table(scenario: string): string {
		const ratioed = this.chatcasts.filter(p => this.nchanFor(p));
		const head = ["", "better", ...this.peers.map(p => p.name), ...ratioed.map(p => `${p.name} ÷ ${this.nchanFor(p)?.name}`)];
		const rows = ROWS.filter(row => row[0] === scenario).map(([, label, better, pick, digits]) => {
			const ratios = ratioed.map(p => {
				const ours = this.value(p, pick);
				const theirs = this.value(this.nchanFor(p), pick);
				return ours === undefined || theirs === undefined || theirs === 0 ? "–" : (ours / theirs).toFixed(2);
			});
			return [label, better, ...this.peers.map(p => cell(this.value(p, pick), digits)), ...ratios];
		});
		return markdownTable(head, rows);
	}

	/** The targets, each judged for the Chatcast peers it is about. */
	targets(): string {
		const rows: string[][] = [];
		const judge = (target: string, peer: Peer, shown: string, met: boolean | undefined): void => {
			rows.push([target, peer.name, shown, met === undefined ? "–" : met ? "met" : "NOT met"]);
		};
		const ratio = (peer: Peer, other: Peer | undefined, pick: Row[3]): number | undefined => {
			const ours = this.value(peer, pick);
			const theirs = this.value(other, pick);
			return ours === undefined || theirs === undefined || theirs === 0 ? undefined : ours / theirs;
		};
		const fmt = (value: number | undefined, digits = 2): string => cell(value, digits);
		const base = this.peers.find(p => p.family === "baseline");
		const has = (scenario: string): boolean => this.options.scenarios.includes(scenario);
		for (const peer of this.chatcasts) {
			const nchan = this.nchanFor(peer);
			if (has("G") && peer.id === "chatcast-pm2") {
				const r = ratio(peer, nchan, m => m.g?.perSecond);
				judge("G publishes/s ≥ 0.6 × nchan (pm2 topology)", peer, `${fmt(r)} ×`, r === undefined ? undefined : r >= 0.6);
			}
			if (has("G") && peer.id === "chatcast-redis") {
				const r = ratio(peer, base, m => m.g?.perSecond);
				judge("G publishes/s ≥ 0.6 × Node baseline (all-in-one)", peer, `${fmt(r)} ×`, r === undefined ? undefined : r >= 0.6);
			}
			if (has("A")) {
				const p99 = this.value(peer, m => m.a?.p99Ms);
				const r = ratio(peer, nchan, m => m.a?.p99Ms);
				const ok = r === undefined || p99 === undefined ? undefined : r <= 2 && p99 <= 10;
				judge("A p99 ≤ 2 × nchan and ≤ 10 ms", peer, `${fmt(r)} ×, ${fmt(p99)} ms`, ok);
				const cpu = ratio(peer, nchan, m => m.a?.serverCpuPercent);
				judge("A server CPU ≤ 1.3 × nchan", peer, `${fmt(cpu)} ×`, cpu === undefined ? undefined : cpu <= 1.3);
			}
			if (has("D")) {
				const rate = ratio(peer, nchan, m => m.d?.deliveriesPerSecond);
				judge("D deliveries/s ≥ nchan", peer, `${fmt(rate)} ×`, rate === undefined ? undefined : rate >= 1);
				const cpu = ratio(peer, nchan, m => m.d?.serverCpuUsPerDelivery);
				judge("D server CPU per delivery ≤ nchan", peer, `${fmt(cpu)} ×`, cpu === undefined ? undefined : cpu <= 1);
			}
			if (has("F")) {
				const seconds = this.value(peer, m => m.f?.caughtUpSeconds);
				const r = ratio(peer, nchan, m => m.f?.caughtUpSeconds);
				const ok = r === undefined || seconds === undefined ? undefined : r <= 1.2 && seconds <= 3;
				judge("F caught up ≤ 1.2 × nchan and ≤ 3 s", peer, `${fmt(r)} ×, ${fmt(seconds)} s`, ok);
				const reads = this.value(peer, m => m.f?.redisCommandsPerSubscriber);
				if (peer.store === "redis")
					judge(
						"F replays coalesced (< 1 Redis command per subscriber)",
						peer,
						fmt(reads),
						reads === undefined ? undefined : reads < 1,
					);
			}
			if (has("E")) {
				const kb = this.value(peer, m => m.e?.kbPerStream);
				judge("E ≤ 8 KB per idle stream", peer, `${fmt(kb, 1)} KB`, kb === undefined ? undefined : kb <= 8);
			}
		}
		return markdownTable(["target", "peer", "measured", "verdict"], rows);
	}
}

/** Scenario H's table for one checkout, and its verdict (broker messages per publish do not grow from 1 to 8 edges). */
function edgesTable(rows: EdgesResult[]): string {
	const table = markdownTable(
		[
			"edges",
			"published",
			"delivered (%)",
			"broker msgs sent / publish",
			"msgs received / publish",
			"bytes sent / publish",
			"bytes received / publish",
		],
		rows.map(r => [
			String(r.edges),
			String(r.published),
			r.deliveredPercent.toFixed(1),
			r.messagesSent.toFixed(2),
			r.messagesReceived.toFixed(2),
			r.bytesSent.toFixed(0),
			r.bytesReceived.toFixed(0),
		]),
	);
	const first = rows[0];
	const last = rows[rows.length - 1];
	if (!first || !last || first === last) return table;
	// An absolute difference, not a ratio: with every subscriber on the publishing edge both figures are near 0
	// (idle noise), while each extra edge that got the channel would add one message per publish.
	const added = last.messagesSent - first.messagesSent;
	const verdict = added <= 0.5 ? "met" : "NOT met";
	return `${table}\n\nTarget (the other edges receive nothing for a channel): broker messages sent per publish with ${last.edges} edges minus with ${first.edges}: ${added.toFixed(2)} (an edge that received the channel would add 1.00) — ${verdict}.`;
}

function describe(options: Options): string[] {
	const s = options.sizes;
	const lines = {
		A: `- A: 1,000 SSE subscribers (100 on each of 10 channels, one load process), ${s.aRate} msg/s for ${s.aSeconds} s after a 2 s warm-up at that rate (not counted); latency = receive time − send time embedded in the text.`,
		D: `- D: 1,000 subscribers on 1 channel over ${s.dLoadProcesses} load processes; wrk -t1 -c32 -d${s.dSeconds}s publishes to it as fast as the server answers; deliveries counted over wrk's window. Load CPU = subscriber processes + wrk.`,
		E: `- E: ${s.eStreams} idle SSE streams over 1,000 channels and ⌈n/4000⌉ load processes; growth of the summed RSS of all server processes (for Redis-backed peers their Redis too; for Chatcast pm2 the cluster primary, the edges, the core and Mosquitto; nginx master + workers) ÷ streams. Measured in round 1 only.`,
		F: `- F: ${s.fSubscribers} subscribers on 10 channels open at once (at most 400 connecting at a time, over ⌈n/2500⌉ load processes) with Last-Event-ID 100 messages behind; time from the first connect to the last stream having the newest message. Redis commands: INFO commandstats delta over the storm ÷ subscribers.`,
		G: `- G: wrk -t1 -c32 -d${s.gSeconds}s --latency (after a discarded 1 s warm-up), POST to 1,000 channels, no subscribers.`,
		H: `- H: Chatcast's ecosystem apps with EDGE_INSTANCES = ${options.hEdges.join(", ")}, each edge on its own port, one core, one Mosquitto (sys_interval 1); 10 channels × 10 subscribers on the first edge; ${s.hRate} msg/s for ${s.hSeconds} s through it; broker $SYS counters per publish, minus an idle window as long.`,
	};
	return options.scenarios.map(scenario => lines[scenario as keyof typeof lines]).filter(line => line !== undefined);
}

async function main(): Promise<void> {
	const options = parseOptions(process.argv.slice(2));
	if (options.help) {
		console.log(USAGE);
		return;
	}
	const multiple = options.chatcastDirs.length > 1;
	const catalogue: Peer[] = [
		...options.chatcastDirs.flatMap(dir => chatcastPeers(dir, multiple ? ` (${path.basename(dir)})` : "")),
		nchanMemory,
		nchanRedis,
		baseline,
	];
	const known = new Set(catalogue.map(p => p.id));
	for (const id of options.peers) if (!known.has(id)) throw new Error(`unknown peer ${id}: one of ${[...known].join(", ")}`);
	if (!haveRedisServer()) throw new Error("redis-server is not on the PATH: every Redis-backed peer needs its own");
	const skipped: string[] = [];
	const peers = catalogue.filter(peer => {
		if (!options.peers.includes(peer.id)) return false;
		const why = peer.missing();
		if (why) {
			skipped.push(`- ${peer.name} skipped: ${why}`);
			log(`${peer.name} skipped: ${why}`);
		}
		return !why;
	});
	const started = Date.now();
	const rounds = new Map<Peer, Measured[]>(peers.map(peer => [peer, []]));
	const redisServer = await startRedis();
	const client = new Redis(redisServer.url);
	const edges = new Map<string, EdgesResult[]>();
	const notes: string[] = [];
	try {
		const redis = { url: redisServer.url, pid: redisServer.pid, client };
		const perPeer = options.scenarios.some(s => s !== "H");
		// Peers alternate within each round, so a noisy neighbour on the machine hurts them alike.
		for (let round = 1; perPeer && round <= options.rounds; round++) {
			log(`round ${round}/${options.rounds}`);
			for (const peer of peers) {
				try {
					rounds.get(peer)?.push(await measure(peer, options, round, redis));
				} catch (err) {
					notes.push(`- ${peer.name}, round ${round}: ${(err as Error).message.split("\n")[0]}`);
					log(`${peer.name}: did not start: ${(err as Error).message}`);
				}
				await client.flushall(); // the next peer starts on an empty Redis
			}
		}
		if (options.scenarios.includes("H"))
			for (const dir of options.chatcastDirs) {
				const hOptions = { edges: options.hEdges, seconds: options.sizes.hSeconds, ratePerSecond: options.sizes.hRate };
				try {
					edges.set(dir, await manyEdges(dir, redisServer.url, hOptions, log));
				} catch (err) {
					notes.push(`- H (${dir}): ${(err as Error).message.split("\n")[0]}`);
					log(`H failed: ${(err as Error).message}`);
				}
				await client.flushall();
			}
	} finally {
		client.disconnect();
		await redisServer.stop();
	}
	const results = new Results(peers, rounds, options);
	for (const [peer, measured] of rounds)
		for (const m of measured) for (const note of m.notes) notes.push(`- ${peer.name}: ${note}`);
	const minutes = (Date.now() - started) / 60_000;
	const sections = options.scenarios.flatMap(scenario => {
		if (scenario !== "H") return peers.length === 0 ? [] : [`## ${scenario}`, "", results.table(scenario), ""];
		return [...edges].flatMap(([dir, rows]) => [`## H (${dir})`, "", edgesTable(rows), ""]);
	});
	const file = writeReport(
		[
			`# npm run bench (bench/compare.ts), ${new Date().toISOString()}`,
			"",
			...machine(),
			`- Chatcast build: ${options.chatcastDirs.join(", ")}; ${options.quick ? "quick mode" : "full sizes"}; ${minutes.toFixed(1)} minutes`,
			"",
			...describe(options),
			`- Medians of ${options.rounds} round${options.rounds === 1 ? "" : "s"} (peers alternate within a round); ratios are Chatcast's median ÷ nchan's with the same store.`,
			"- Server CPU = the peer's processes (nginx: master + workers; Chatcast pm2: primary, edges, core, Mosquitto) + its Redis (the bench's own redis-server; none for memory stores).",
			"",
			...sections,
			...(results.chatcasts.length > 0 && options.scenarios.some(s => s !== "H")
				? ["## Targets", "", results.targets(), ""]
				: []),
			...skipped,
			...notes,
		],
		`${new Date().toISOString().slice(0, 10)}${options.quick ? "-quick" : ""}`,
	);
	log(`written to ${file} after ${minutes.toFixed(1)} minutes`);
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
