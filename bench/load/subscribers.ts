/**
 * The subscriber load of scenario A, in its own process (forked by compare.ts) so that the parsing of
 * thousands of streams does not share an event loop with the publisher: holds the SSE connections,
 * parses each stream with eventsource-parser and records, for each message, now minus the send time
 * the publisher embedded in its text (`bench <ms>`, monotonic clock, shared by the processes of a host).
 *
 * IPC: receives {open}, answers {ready}; receives {report}, answers {latencies}; receives {close}, exits.
 */
import http from "node:http";
import { createParser } from "eventsource-parser";
import { monotonicMs, percentile } from "../support/stats";

export interface OpenRequest {
	type: "open";
	port: number;
	channels: string[];
	perChannel: number;
}

export interface LatencyReport {
	type: "latencies";
	count: number;
	p50: number;
	p99: number;
	max: number;
}

const SENT_AT = /bench (\d+(?:\.\d+)?)/;
const OPEN_BATCH = 100;
const latencies: number[] = [];
const requests: http.ClientRequest[] = [];

function openStream(port: number, channel: string): Promise<void> {
	return new Promise((resolve, reject) => {
		const parser = createParser({
			onEvent: event => {
				const sent = SENT_AT.exec(event.data);
				if (sent) latencies.push(monotonicMs() - Number(sent[1]));
			},
		});
		const req = http.get(
			{
				host: "127.0.0.1",
				port,
				path: `/api/channels/${channel}/events`,
				agent: false,
				headers: { Accept: "text/event-stream" },
			},
			res => {
				if (res.statusCode !== 200) {
					reject(new Error(`stream answered ${res.statusCode}`));
					res.resume();
					return;
				}
				res.setEncoding("utf8");
				res.on("data", (chunk: string) => parser.feed(chunk));
				resolve();
			},
		);
		req.on("error", reject);
		requests.push(req);
	});
}

async function open({ port, channels, perChannel }: OpenRequest): Promise<void> {
	const all = channels.flatMap(channel => Array.from({ length: perChannel }, () => channel));
	for (let i = 0; i < all.length; i += OPEN_BATCH) await Promise.all(all.slice(i, i + OPEN_BATCH).map(c => openStream(port, c)));
}

process.on("message", (message: { type: string }) => {
	const send = (reply: object): void => {
		process.send?.(reply);
	};
	if (message.type === "open")
		open(message as OpenRequest).then(
			() => send({ type: "ready", open: requests.length }),
			(err: Error) => send({ type: "error", message: err.message }),
		);
	else if (message.type === "report") {
		const report: LatencyReport = {
			type: "latencies",
			count: latencies.length,
			p50: percentile(latencies, 0.5),
			p99: percentile(latencies, 0.99),
			max: percentile(latencies, 1),
		};
		send(report);
	} else if (message.type === "close") {
		for (const req of requests) req.destroy();
		process.exit(0);
	}
});
