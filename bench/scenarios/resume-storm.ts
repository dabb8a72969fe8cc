/**
 * Scenario F, resume storm: `subscribers` streams on `channels` channels all reconnect at once with a
 * `Last-Event-ID` `behind` messages back. A probe stream per channel first learns the server's own ids
 * (opaque: Chatcast's seqs, nchan's `time:tag`), then `behind + 1` messages are published to each channel;
 * the storm's streams send the id of the message `behind` before the last the probe saw and count as caught up
 * when they see the last. Measures the
 * time from the first connect to the last stream caught up, the events per stream (expected: `behind`), and,
 * for peers on Redis, the Redis commands the storm caused (INFO commandstats): one history read per
 * subscriber, or coalesced replays.
 */
import { randomUUID } from "node:crypto";
import { LoadPool } from "../load/pool";
import { cpuSeconds } from "../support/processes";
import { publishEach } from "../support/publish";
import { monotonicMs } from "../support/stats";
import { SETTLE_MS, sleep } from "./deliver-latency";

const PER_PROCESS = 2500;
/** Streams being opened at once, over all load processes (below Node's default listen backlog of 511). */
const CONCURRENCY = 400;
const CATCH_UP_TIMEOUT_MS = 60_000;

export interface StormOptions {
	subscribers: number;
	channels: number;
	behind: number;
}

export interface StormResult {
	caughtUpSeconds: number;
	minEvents: number;
	maxEvents: number;
	/** Redis commands during the storm ÷ subscribers (undefined for a peer without Redis). */
	redisCommandsPerSubscriber?: number;
	serverCpuSeconds: number;
}

/**
 * The ids each channel's probe stream has seen, once every channel has seen `count`. A probe may miss the first
 * messages (nchan on Redis subscribes a new channel's first subscriber asynchronously): a channel whose probe is
 * short after a second without progress gets one more message, until it has seen `count` in a row.
 */
async function probeIds(probe: LoadPool, port: number, count: number): Promise<Record<string, string[]>> {
	const deadline = Date.now() + 30_000;
	let seen = -1;
	let quietSince = Date.now();
	for (;;) {
		const [report] = await probe.reports();
		const short = Object.entries(report.ids).filter(([, ids]) => ids.length < count);
		if (short.length === 0) return report.ids;
		if (Date.now() > deadline) throw new Error(`the probe streams did not see ${count} messages per channel`);
		const total = Object.values(report.ids).reduce((sum, ids) => sum + ids.length, 0);
		if (total !== seen) [seen, quietSince] = [total, Date.now()];
		else if (Date.now() - quietSince > 1000) {
			await publishEach(
				port,
				short.map(([channel]) => channel),
				1,
			);
			quietSince = Date.now();
		}
		await sleep(200);
	}
}

/**
 * Runs scenario F against `port`; `redisCalls` counts the commands the peer's Redis has served so far.
 *
 * @example const f = await resumeStorm(port, [pid], { subscribers: 5000, channels: 10, behind: 100 }, calls);
 */
export async function resumeStorm(
	port: number,
	serverPids: number[],
	options: StormOptions,
	redisCalls?: () => Promise<number>,
): Promise<StormResult> {
	const channels = Array.from({ length: options.channels }, () => randomUUID());
	const probe = new LoadPool(1);
	let ids: Record<string, string[]>;
	try {
		await probe.open(() => ({ port, mode: "resume", channels, perChannel: 1, concurrency: 10, recordIds: true }));
		await sleep(SETTLE_MS);
		const published = await publishEach(port, channels, options.behind + 1);
		if (published.refused > 0) throw new Error(`${published.refused} history publishes refused`);
		ids = await probeIds(probe, port, options.behind + 1);
	} finally {
		await probe.close();
	}
	const lastEventIds: Record<string, string> = {};
	const finalIds: Record<string, string> = {};
	for (const channel of channels) {
		const seen = ids[channel];
		lastEventIds[channel] = seen[seen.length - 1 - options.behind];
		finalIds[channel] = seen[seen.length - 1];
	}
	const processes = Math.ceil(options.subscribers / PER_PROCESS);
	const storm = new LoadPool(processes);
	try {
		const callsBefore = await redisCalls?.();
		const cpuBefore = cpuSeconds(serverPids);
		const share = Math.ceil(channels.length / processes);
		const perChannel = Math.ceil(options.subscribers / channels.length);
		const started = monotonicMs();
		const opening = storm.open(i => ({
			port,
			mode: "resume",
			channels: channels.slice(i * share, (i + 1) * share),
			perChannel,
			concurrency: Math.ceil(CONCURRENCY / processes),
			lastEventIds,
			finalIds,
		}));
		let timer: NodeJS.Timeout | undefined;
		const timeout = new Promise<never>((_, reject) => {
			timer = setTimeout(
				() => reject(new Error(`not all streams caught up in ${CATCH_UP_TIMEOUT_MS / 1000} s`)),
				CATCH_UP_TIMEOUT_MS,
			);
		});
		// A stream refused while others catch up fails the storm now (and is never an unhandled rejection).
		const refused = opening.then(() => new Promise<never>(() => undefined));
		const last = await Promise.race([storm.caughtUp(), timeout, refused]).finally(() => clearTimeout(timer));
		const opened = await opening;
		const serverCpuSeconds = cpuSeconds(serverPids) - cpuBefore;
		const callsAfter = await redisCalls?.();
		const reports = await storm.reports();
		return {
			caughtUpSeconds: (last - started) / 1000,
			minEvents: Math.min(...reports.map(r => r.minPerStream)),
			maxEvents: Math.max(...reports.map(r => r.maxPerStream)),
			redisCommandsPerSubscriber:
				callsBefore === undefined || callsAfter === undefined ? undefined : (callsAfter - callsBefore) / opened,
			serverCpuSeconds,
		};
	} finally {
		await storm.close();
	}
}
