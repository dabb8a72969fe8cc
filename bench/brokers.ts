/**
 * The clustered MQTT broker chosen by measurement (issue #12, docs/adr-clustered-broker.md): Chatcast's
 * shipped topology — two edges (every service, on the bench's Redis, as ecosystem.config.js runs them with
 * Redis) — over each broker: Mosquitto (one node, the baseline), NATS ×3, RabbitMQ ×3, aedes ×3 + Redis.
 * Edge n connects to broker node n first (then the others), so what a publish through edge 0 sends to
 * subscribers on edge 1 crosses the cluster: sealed packets on per-channel topics, with heartbeats,
 * discovery and presence beside them. Per broker:
 * - latency: 10 channels × 10 subscribers on edge 1, 50 msg/s through edge 0; p50/p99 publish→deliver;
 * - throughput: wrk -c32 publishing through edge 0 to one channel with 10 subscribers on edge 1, as fast
 *   as answered; publishes/s and the deliveries/s they became on edge 1;
 * - failover: 50 msg/s through edge 0 to one channel with a subscriber on edge 1, then edge 0's first
 *   broker node (for NATS the leader of the MQTT session stream: the worst) SIGKILLed: seconds until a
 *   message published after the kill reaches edge 1 live (≤ LIVE_MS) again, publishes refused meanwhile,
 *   and whether every accepted message was delivered (live or by gap repair).
 * Missing brokers are skipped with a line saying why. Table on stdout and in bench/results/brokers-<date>.md.
 *
 *   npm run bench:brokers                         # every broker, 1 round
 *   npm run bench:brokers -- --brokers nats,aedes-redis --rounds 2
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { startNode, uniqueNamespace } from "../test/support/node-process";
import { startPublisher } from "../test/support/publisher";
import { openStream } from "../test/support/sse-client";
import { BROKERS, type BrokerKind, type RunningBrokers } from "./brokers/clusters";
import { LoadPool } from "./load/pool";
import { startSeparateEdges } from "./peers/chatcast";
import { sleep } from "./scenarios/deliver-latency";
import { runWrk } from "./scenarios/publish-throughput";
import { machine } from "./support/machine";
import { markdownTable, writeReport } from "./support/markdown";
import { cpuSeconds } from "./support/processes";
import { publishAtRate } from "./support/publish";
import { startRedis } from "./support/redis-server";
import { monotonicMs } from "./support/stats";

const ROOT = path.resolve(__dirname, "../..");
/** A message that takes longer than this to reach edge 1 came by gap repair, not live. */
const LIVE_MS = 1000;

const log = (line: string): void => {
	process.stderr.write(`[bench:brokers ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

interface Measured {
	p50Ms?: number;
	p99Ms?: number;
	latencyDelivered?: number;
	publishesPerSecond?: number;
	deliveriesPerSecond?: number;
	brokerCpuPercent?: number;
	failoverSeconds?: number;
	failoverRefused?: number;
	failoverDelivered?: number;
	/** test/cluster's measure: seconds until a publish through the edge is accepted again (core topology). */
	republishSeconds?: number;
	republishTimeline?: string;
	notes: string[];
}

/** 10 channels × 10 subscribers on edge 1, 50 msg/s through edge 0 for 10 s (light: the machine is shared). */
async function latency(ports: number[], m: Measured): Promise<void> {
	const pool = new LoadPool(1);
	try {
		const channels = Array.from({ length: 10 }, () => randomUUID());
		await pool.open(() => ({ port: ports[1], mode: "latency", channels, perChannel: 10, concurrency: 50 }));
		await sleep(1000);
		const { ok } = await publishAtRate(ports[0], channels, 50, 10);
		await sleep(1500);
		const [report] = await pool.reports();
		m.p50Ms = report.p50;
		m.p99Ms = report.p99;
		m.latencyDelivered = (100 * report.events) / (ok * 10);
	} finally {
		await pool.close();
	}
}

/** wrk -c32 for 10 s through edge 0 to one channel with 10 subscribers on edge 1. */
async function throughput(ports: number[], broker: RunningBrokers, m: Measured): Promise<void> {
	const pool = new LoadPool(1);
	try {
		const channel = randomUUID();
		await pool.open(() => ({ port: ports[1], mode: "count", channels: [channel], perChannel: 10, concurrency: 10 }));
		await sleep(1000);
		runWrk(ports[0], 32, 1, channel); // warm-up
		await sleep(1000);
		const before = await pool.events();
		const cpuBefore = cpuSeconds(broker.pids());
		const started = Date.now();
		const wrk = runWrk(ports[0], 32, 10, channel);
		const wall = (Date.now() - started) / 1000;
		m.brokerCpuPercent = (100 * (cpuSeconds(broker.pids()) - cpuBefore)) / wall;
		await sleep(1500);
		m.publishesPerSecond = wrk.perSecond;
		m.deliveriesPerSecond = (await pool.events()) - before;
		m.deliveriesPerSecond /= wall;
	} finally {
		await pool.close();
	}
}

/** 50 msg/s through edge 0, one subscriber on edge 1; edge 0's first broker node killed after 2 s. */
async function failover(ports: number[], broker: RunningBrokers, victim: number, m: Measured): Promise<void> {
	const channel = randomUUID();
	const arrivals = new Map<number, number>(); // send time (monotonic ms) → arrival
	const stream = await openStream(`http://127.0.0.1:${ports[1]}/api/channels/${channel}/events`, {
		onMessage: message => {
			const sent = /^bench ([\d.]+)$/.exec(message.text);
			if (sent && !arrivals.has(Number(sent[1]))) arrivals.set(Number(sent[1]), monotonicMs());
		},
	});
	try {
		await sleep(1000);
		const publishing = publishAtRate(ports[0], [channel], 50, 10);
		await sleep(2000);
		const killedAt = monotonicMs();
		await broker.kill(victim);
		const { ok, refused } = await publishing;
		await sleep(5000); // gap repair: the edge's periodic heads check, or the next message
		const live = [...arrivals].filter(([sent, at]) => sent >= killedAt && at - sent <= LIVE_MS).map(([sent]) => sent);
		m.failoverSeconds = live.length === 0 ? Number.POSITIVE_INFINITY : (Math.min(...live) - killedAt) / 1000;
		m.failoverRefused = refused;
		m.failoverDelivered = (100 * arrivals.size) / ok;
	} finally {
		stream.close();
	}
}

/**
 * As test/cluster/clustered-broker.test.ts measures it: a core (api, ingest, history) and an edge (api,
 * broadcast: every publish is a request to the core over the broker), the edge on node `victim` first; a
 * publisher publishes through the edge as fast as answered, node `victim` is killed: seconds until a
 * publish sent after the kill is accepted again.
 */
async function republish(urls: string[], redisUrl: string, broker: RunningBrokers, victim: number, m: Measured): Promise<void> {
	const namespace = uniqueNamespace("benchbrokers");
	const from = (first: number): string => [...urls.slice(first % urls.length), ...urls.slice(0, first % urls.length)].join(",");
	const env = (first: number): Record<string, string> => ({ MQTT_URL: from(first), REDIS_URL: redisUrl, LOG_LEVEL: "warn" });
	const [core, edge] = await Promise.all([
		startNode({ namespace, services: ["api", "ingest", "history"], env: env(victim + 1) }),
		startNode({ namespace, services: ["api", "broadcast"], env: env(victim) }),
	]);
	try {
		const messages = `${edge.baseUrl}/api/channels/${randomUUID()}/messages`;
		const deadline = Date.now() + 20_000;
		while ((await fetch(messages, { method: "POST", body: "first", headers: { "Content-Type": "text/plain" } })).status !== 201)
			if (Date.now() > deadline) throw new Error("no publish through the edge in 20 s");
			else await sleep(200);
		const publisher = startPublisher(messages);
		await sleep(1000);
		const killedAt = Date.now();
		await broker.kill(victim);
		await sleep(8000);
		await publisher.stop();
		m.republishSeconds = publisher.secondsUntilAccepted(killedAt);
		m.republishTimeline = publisher.timeline(killedAt);
	} finally {
		await Promise.all([core.stop(), edge.stop()]);
	}
}

async function measure(kind: BrokerKind, redisUrl: string): Promise<Measured> {
	const m: Measured = { notes: [] };
	const step = async (what: string, body: () => Promise<void>): Promise<void> => {
		log(`${kind.name}: ${what}`);
		try {
			await body();
		} catch (err) {
			m.notes.push(`${kind.name}, ${what}: ${(err as Error).message.split("\n")[0]}`);
			log(`${kind.name}: ${what} failed: ${(err as Error).message}`);
		}
	};
	log(`${kind.name}: starting the broker`);
	const broker = await kind.start(redisUrl);
	try {
		const victim = await broker.worstNode();
		const urls = [...broker.urls.slice(victim), ...broker.urls.slice(0, victim)];
		const edges = await startSeparateEdges(ROOT, redisUrl, 2, urls);
		try {
			await sleep(2000); // discovery, presence snapshots
			await step("latency", () => latency(edges.ports, m));
			await step("throughput", () => throughput(edges.ports, broker, m));
			if (kind.nodes > 1) await step(`failover (node ${victim + 1} killed)`, () => failover(edges.ports, broker, victim, m));
		} finally {
			await edges.stop();
		}
	} finally {
		await broker.stop();
	}
	if (kind.nodes === 1) return m;
	// A fresh cluster: the first kill may have moved the leaders.
	const again = await kind.start(redisUrl);
	try {
		const victim = await again.worstNode();
		await step(`publishing back (node ${victim + 1} killed)`, () => republish(again.urls, redisUrl, again, victim, m));
	} finally {
		await again.stop();
	}
	return m;
}

type Row = [label: string, pick: (m: Measured) => number | undefined, digits: number];
const ROWS: Row[] = [
	["p50 publish→deliver, edge 0 → edge 1 (ms)", m => m.p50Ms, 2],
	["p99 publish→deliver (ms)", m => m.p99Ms, 2],
	["delivered at 50 msg/s (%)", m => m.latencyDelivered, 1],
	["publishes/s (wrk -c32, 1 channel)", m => m.publishesPerSecond, 0],
	["deliveries/s on edge 1 (10 subscribers)", m => m.deliveriesPerSecond, 0],
	["broker CPU while publishing (% of a core)", m => m.brokerCpuPercent, 0],
	["failover: live delivery back after (s)", m => m.failoverSeconds, 2],
	["failover: publishes refused", m => m.failoverRefused, 0],
	["failover: accepted messages delivered (%)", m => m.failoverDelivered, 1],
	["core topology: publishing back after (s)", m => m.republishSeconds, 2],
];

function median(values: number[]): number | undefined {
	const sorted = values.filter(v => !Number.isNaN(v)).sort((a, b) => a - b);
	return sorted.length === 0 ? undefined : sorted[Math.floor(sorted.length / 2)];
}

function option(args: string[], name: string): string | undefined {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
	const args = process.argv.slice(2);
	const wanted = (option(args, "--brokers") ?? BROKERS.map(b => b.id).join(",")).split(",");
	const rounds = Number(option(args, "--rounds") ?? 1);
	const skipped: string[] = [];
	const kinds = BROKERS.filter(kind => {
		if (!wanted.includes(kind.id)) return false;
		const why = kind.missing();
		if (why) skipped.push(`- ${kind.name} skipped: ${why}`);
		return !why;
	});
	for (const line of skipped) log(line.slice(2));
	const started = Date.now();
	const results = new Map<BrokerKind, Measured[]>(kinds.map(kind => [kind, []]));
	const notes: string[] = [];
	const redis = await startRedis();
	try {
		// Brokers alternate within a round: a noisy neighbour hurts them alike.
		for (let round = 1; round <= rounds; round++)
			for (const kind of kinds) {
				try {
					const m = await measure(kind, redis.url);
					results.get(kind)?.push(m);
					notes.push(...m.notes.map(n => `- round ${round}: ${n}`));
					if (m.republishTimeline) notes.push(`- round ${round}, ${kind.name}, publishing back: ${m.republishTimeline}`);
				} catch (err) {
					notes.push(`- ${kind.name}, round ${round}: did not start: ${(err as Error).message.split("\n")[0]}`);
					log(`${kind.name}: did not start: ${(err as Error).message}`);
				}
			}
	} finally {
		await redis.stop();
	}
	const cell = (kind: BrokerKind, [, pick, digits]: Row): string => {
		const values = (results.get(kind) ?? []).map(pick).filter((v): v is number => v !== undefined);
		const value = median(values);
		const all = values.length > 1 ? ` (${values.map(v => v.toFixed(digits)).join(", ")})` : "";
		return value === undefined ? "–" : `${value.toFixed(digits)}${all}`;
	};
	const table = markdownTable(
		["", ...kinds.map(k => k.name)],
		ROWS.map(row => [row[0], ...kinds.map(kind => cell(kind, row))]),
	);
	const minutes = (Date.now() - started) / 60_000;
	const file = writeReport(
		[
			`# bench:brokers, ${new Date().toISOString()}`,
			"",
			...machine(),
			`- ${rounds} round${rounds === 1 ? "" : "s"} (median, every round's value in brackets); ${minutes.toFixed(1)} minutes`,
			"- Chatcast: 2 edges with every service on the bench's Redis (ecosystem.config.js with Redis), edge n on broker node n first.",
			"- Latency: 10 channels × 10 SSE subscribers on edge 1, 50 msg/s through edge 0 for 10 s.",
			"- Throughput: wrk -t1 -c32 -d10s through edge 0 to one channel with 10 subscribers on edge 1; broker CPU = all its nodes (aedes: not its Redis, which is the bench's).",
			"- Core topology: a core (api, ingest, history) and an edge (api, broadcast), as test/cluster; the edge's first node killed while a publisher publishes through it as fast as answered; answers below (seconds from the kill).",
			`- Failover: 50 msg/s through edge 0 for 10 s, one subscriber on edge 1; after 2 s edge 0's first node is SIGKILLed (NATS: the MQTT session stream's leader). "Back after": the first message sent after the kill that arrived within ${LIVE_MS} ms.`,
			"",
			table,
			"",
			...skipped,
			...notes,
		],
		`brokers-${new Date().toISOString().slice(0, 10)}`,
	);
	log(`written to ${file}`);
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
