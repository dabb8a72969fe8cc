/**
 * The stream load of the storm bench (bench/storm.ts), in its own process: opens SSE streams, each
 * resuming with `Last-Event-ID` (scenario F) or none (E, idle streams), and reports when every stream
 * has reached `untilSeq`. Each stream's seqs are checked as they come: one missing, repeated or out of
 * order is counted as an error; a refused stream is opened again a second later, as EventSource would.
 *
 * IPC: receives {open}, answers {opened} once every stream has its headers and {caughtUp} (monotonic time)
 * once every stream reached untilSeq; receives {close}, exits.
 */
import http from "node:http";
import { createParser } from "eventsource-parser";
import { monotonicMs } from "../support/stats";

export interface ResumeRequest {
	type: "open";
	port: number;
	channels: string[];
	perChannel: number;
	/** Per channel: the Last-Event-ID to send (undefined: none, the stream starts at the end). */
	lastEventIds?: number[];
	/** Per channel: the seq each stream must reach (0: nothing to wait for). */
	untilSeqs: number[];
}

export interface ResumeReport {
	type: "caughtUp";
	at: number;
	streams: number;
	/** Streams that saw a gap, a duplicate or a seq out of order. */
	errors: number;
	/** Stream opens answered other than 200, or whose connection failed (each tried again). */
	refused: number;
	/** When the last stream got its 200 (monotonic ms). */
	openedAt: number;
	/** This load process's own CPU seconds (user + system) so far. */
	cpuSeconds: number;
}

const requests: http.ClientRequest[] = [];
let waiting = 0;
let opened = 0;
let errors = 0;
/** Streams answered other than 200 (each opened again, as EventSource would). */
let refused = 0;
let openedAt = 0;

function report(): ResumeReport {
	const cpu = process.cpuUsage();
	return {
		type: "caughtUp",
		at: monotonicMs(),
		streams: requests.length,
		errors,
		refused,
		openedAt,
		cpuSeconds: (cpu.user + cpu.system) / 1e6,
	};
}
const send = (reply: object): void => {
	if (process.connected) process.send?.(reply);
};

/** Like EventSource: a refused stream is opened again after RETRY_MS, from where it was. */
const RETRY_MS = 1000;

function open(port: number, channel: string, lastEventId: number | undefined, untilSeq: number, total: number): void {
	let last = lastEventId ?? -1;
	/** What EventSource would send back: the last event's id (`<epoch>.<seq>`), or the seq it started from. */
	let lastId = lastEventId === undefined ? undefined : String(lastEventId);
	let done = untilSeq === 0;
	let counted = false;
	if (!done) waiting++;
	const parser = createParser({
		onEvent: event => {
			if (event.event !== "message" || event.id === undefined) return;
			const seq = Number(event.id.slice(event.id.lastIndexOf(".") + 1));
			if (last >= 0 && seq !== last + 1) errors++;
			last = seq;
			lastId = event.id;
			if (!done && seq >= untilSeq) {
				done = true;
				if (--waiting === 0) send(report());
			}
		},
	});
	const connect = (): void => {
		const headers: Record<string, string> = { Accept: "text/event-stream" };
		if (lastId !== undefined) headers["Last-Event-ID"] = lastId;
		const req = http.get({ host: "127.0.0.1", port, path: `/api/channels/${channel}/events`, agent: false, headers }, res => {
			if (res.statusCode !== 200) {
				refused++;
				res.resume();
				setTimeout(connect, RETRY_MS);
				return;
			}
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => parser.feed(chunk));
			openedAt = monotonicMs();
			if (!counted && ++opened === total) send({ type: "opened", at: openedAt });
			counted = true;
		});
		// A reset or refused connection (a full accept queue): EventSource would try again, so does this.
		req.on("error", () => {
			if (counted) return;
			refused++;
			setTimeout(connect, RETRY_MS);
		});
		requests.push(req);
	};
	connect();
}

process.on("message", (message: ResumeRequest | { type: "close" }) => {
	if (message.type === "close") {
		for (const req of requests) req.destroy();
		process.exit(0);
	}
	const { port, channels, perChannel, lastEventIds, untilSeqs } = message;
	const total = channels.length * perChannel;
	// Round-robin over the channels, as reconnecting clients would arrive.
	for (let i = 0; i < perChannel; i++)
		channels.forEach((channel, c) => {
			open(port, channel, lastEventIds?.[c], untilSeqs[c], total);
		});
	if (waiting === 0) send(report());
});
