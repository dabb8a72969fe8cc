/**
 * Subscriber load, in its own process (forked by bench/load/pool.ts) so that the parsing of thousands of
 * streams does not share an event loop (or a file limit) with the publisher or with the other load processes.
 * Holds SSE connections, parses each stream with eventsource-parser and records what the scenario needs:
 * - `latency` (A): per message, now minus the send time the publisher embedded in its text (`bench <ms>`,
 *   monotonic clock, shared by the processes of a host);
 * - `count` (D, E, H): message events only (unnamed or `event: message`; others, like presence, are not counted);
 * - `resume` (F): the ids each channel's first stream saw (`recordIds`), and, with `finalIds`, the time at
 *   which every stream has seen its channel's final id (`caughtUp`).
 *
 * IPC: {open} → {ready}; {report} → {report}; {reset} (forget the events and latencies so far, e.g. a
 * warm-up's) → {report} of what it forgot; {close} → exits. With `finalIds`, also {caughtUp} once.
 */
import http from "node:http";
import { createParser } from "eventsource-parser";
import { monotonicMs, percentile } from "../support/stats";

export type LoadMode = "latency" | "count" | "resume";

export interface OpenRequest {
	type: "open";
	port: number;
	mode: LoadMode;
	channels: string[];
	perChannel: number;
	/** Streams being opened at once at most (a listen backlog overflow would measure SYN retries). */
	concurrency: number;
	/** `Last-Event-ID` per channel, sent on every stream of that channel. */
	lastEventIds?: Record<string, string>;
	/** Per channel, the id after which a stream counts as caught up. */
	finalIds?: Record<string, string>;
	/** Record the ids seen by the first stream of each channel. */
	recordIds?: boolean;
}

export interface LoadReport {
	type: "report";
	events: number;
	/** Streams that ended before the bench closed them (a server dropping slow subscribers). */
	dropped: number;
	p50: number;
	p99: number;
	/** Fewest and most events one stream received. */
	minPerStream: number;
	maxPerStream: number;
	ids: Record<string, string[]>;
}

export type LoadReply =
	| { type: "ready"; open: number }
	| { type: "error"; message: string }
	| { type: "caughtUp"; at: number }
	| LoadReport;

const SENT_AT = /bench (\d+(?:\.\d+)?)/;

const latencies: number[] = [];
const requests: http.ClientRequest[] = [];
const perStream: number[] = [];
const ids: Record<string, string[]> = {};
let events = 0;
let dropped = 0;
let closing = false;
let waitingToCatchUp = 0;

/** What was received so far (the `report` and `reset` replies). */
function report(): LoadReport {
	return {
		type: "report",
		events,
		dropped,
		p50: percentile(latencies, 0.5),
		p99: percentile(latencies, 0.99),
		minPerStream: Math.min(...perStream),
		maxPerStream: Math.max(...perStream),
		ids,
	};
}

const send = (reply: LoadReply): void => {
	process.send?.(reply);
};

function openStream(request: OpenRequest, channel: string, index: number, record: boolean): Promise<void> {
	const finalId = request.finalIds?.[channel];
	let caughtUp = finalId === undefined;
	if (!caughtUp) waitingToCatchUp++;
	if (record) ids[channel] = [];
	perStream[index] = 0;
	return new Promise((resolve, reject) => {
		const parser = createParser({
			onEvent: event => {
				// Messages only: Chatcast also sends presence and other events, nchan sends no event name.
				if (event.event !== undefined && event.event !== "message") return;
				events++;
				perStream[index]++;
				if (request.mode === "latency") {
					const sent = SENT_AT.exec(event.data);
					if (sent) latencies.push(monotonicMs() - Number(sent[1]));
				}
				if (record && event.id !== undefined) ids[channel].push(event.id);
				if (!caughtUp && event.id === finalId) {
					caughtUp = true;
					if (--waitingToCatchUp === 0) send({ type: "caughtUp", at: monotonicMs() });
				}
			},
		});
		const lastEventId = request.lastEventIds?.[channel];
		const req = http.get(
			{
				host: "127.0.0.1",
				port: request.port,
				path: `/api/channels/${channel}/events`,
				agent: false,
				headers: { Accept: "text/event-stream", ...(lastEventId === undefined ? {} : { "Last-Event-ID": lastEventId }) },
			},
			res => {
				if (res.statusCode !== 200) {
					let body = "";
					res.setEncoding("utf8");
					res.on("data", (chunk: string) => {
						body += chunk;
					});
					res.on("end", () => reject(new Error(`stream answered ${res.statusCode} ${body.slice(0, 120)}`)));
					return;
				}
				res.setEncoding("utf8");
				res.on("data", (chunk: string) => parser.feed(chunk));
				res.on("close", () => {
					if (!closing) dropped++;
				});
				resolve();
			},
		);
		req.on("error", reject);
		requests.push(req);
	});
}

async function open(request: OpenRequest): Promise<void> {
	const all = request.channels.flatMap(channel => Array.from({ length: request.perChannel }, () => channel));
	let next = 0;
	const worker = async (): Promise<void> => {
		while (next < all.length) {
			const index = next++;
			await openStream(request, all[index], index, request.recordIds === true && index % request.perChannel === 0);
		}
	};
	await Promise.all(Array.from({ length: Math.min(request.concurrency, all.length) }, worker));
}

process.on("message", (message: { type: string }) => {
	if (message.type === "open")
		open(message as OpenRequest).then(
			() => send({ type: "ready", open: requests.length }),
			(err: Error) => send({ type: "error", message: err.message }),
		);
	else if (message.type === "report") send(report());
	else if (message.type === "reset") {
		send(report());
		events = 0;
		latencies.length = 0;
		perStream.fill(0);
	} else if (message.type === "close") {
		closing = true;
		for (const req of requests) req.destroy();
		process.exit(0);
	}
});
