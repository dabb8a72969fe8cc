/**
 * Replays to readers that never read must not cost the edge memory in proportion to the history: a
 * replay waits for `drain` past SSE_MAX_BUFFERED_BYTES. Ten raw sockets ask for a 12 MB history each
 * and read nothing (3000 messages, not 1000: the kernel's socket buffers take up to a few MB per
 * loopback connection, so a smaller history fits there and would pass without the wait); the edge's memory (its own Prometheus metrics) grows by a bounded amount, and a
 * normal reader on the same channel still gets every message.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { type ChatcastNode, freePort, startNode, uniqueNamespace, waitFor } from "../support/node-process";
import { openStream } from "../support/sse-client";

const MAX_BUFFERED = 262_144;
const MESSAGES = 3000;
const TEXT_BYTES = 4000;
const STALLED_READERS = 10;

let edge: ChatcastNode;
let metricsPort: number;

beforeAll(async () => {
	metricsPort = await freePort();
	edge = await startNode({
		namespace: uniqueNamespace("abuse-replay"),
		env: { SSE_MAX_BUFFERED_BYTES: String(MAX_BUFFERED), METRICS_PORT: String(metricsPort), HISTORY_LIMIT: String(MESSAGES) },
	});
}, 30_000);
afterAll(async () => {
	await edge?.stop();
});

interface Memory {
	rss: number;
	heap: number;
	/** Buffers (what a stream's unsent bytes are). */
	external: number;
	/** Open SSE streams. */
	streams: number;
	uptime: number;
}

/** The edge's memory as its metrics endpoint reports it. */
async function scrape(): Promise<Memory> {
	const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
	const value = (name: string): number => {
		const line = text.split("\n").find(l => l.startsWith(`${name}{`));
		if (line === undefined) throw new Error(`no ${name} in the metrics`);
		return Number(line.split(" ").pop());
	};
	return {
		rss: value("process_memory_rss"),
		heap: value("process_memory_heap_size_used"),
		external: value("process_memory_external"),
		streams: value("chatcast_sse_connections"),
		uptime: value("process_uptime"),
	};
}

/** A sample taken after now: Moleculer collects process metrics every 5 s, a scrape shows the last collection. */
async function memory(): Promise<Memory> {
	const stale = await scrape();
	return waitFor(
		async () => {
			const sample = await scrape();
			return sample.uptime !== stale.uptime && sample;
		},
		12_000,
		"a fresh metrics sample",
	);
}

/** A client that asks for the whole history and never reads a byte of it. */
function stalledReader(channel: string): Promise<net.Socket> {
	return new Promise((resolve, reject) => {
		const socket = net.connect(edge.port, "127.0.0.1", () => {
			socket.pause();
			socket.write(
				`GET /api/channels/${channel}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nLast-Event-ID: 0\r\n\r\n`,
			);
			resolve(socket);
		});
		socket.on("error", reject);
	});
}

/** A normal reader replays the whole channel and gets every message, once, in order. */
async function readAll(channel: string): Promise<void> {
	const reader = await openStream(`${edge.baseUrl}/api/channels/${channel}/events`, { lastEventId: 0 });
	const received = await reader.waitForMessages(MESSAGES, 30_000);
	reader.close();
	expect(received.map(m => m.seq)).toEqual(Array.from({ length: MESSAGES }, (_, i) => i + 1));
}

test("ten stalled replays of a 12 MB history cost a bounded amount of memory; a normal reader gets it all", async () => {
	const channel = randomUUID();
	const text = "x".repeat(TEXT_BYTES);
	for (let i = 0; i < MESSAGES; i += 20) {
		const batch = Array.from({ length: Math.min(20, MESSAGES - i) }, () =>
			fetch(`${edge.baseUrl}/api/channels/${channel}/messages`, {
				method: "POST",
				headers: { "Content-Type": "text/plain" },
				body: text,
			}).then(res => expect(res.status).toBe(201)),
		);
		await Promise.all(batch);
	}
	// A first full replay warms the edge up (V8's young generation, JIT, Redis reply buffers grow once):
	// what the stalled readers add is measured from there.
	await readAll(channel);
	const before = await memory();

	const stalled = await Promise.all(Array.from({ length: STALLED_READERS }, () => stalledReader(channel)));
	const stalledClosed = stalled.map(socket => new Promise<void>(resolve => socket.once("close", () => resolve())));
	// Long enough for every replay to have written what it may, and more if it did not wait.
	await new Promise(r => setTimeout(r, 2000));
	const during = await memory();

	// While it waits for drain, a stalled replay holds its last write (it writes a page at once, so up to
	// a page of frames past the limit) and that page of messages: 2 × 500 × ~4.1 KB. 40 MB of fixed
	// slack: V8's young generation (two 16 MB semispaces) filling with garbage, old space growing in
	// steps. Measured: 55–70 MB; without the wait every stalled stream holds the whole 12 MB history
	// (~240 MB more).
	const page = 500 * (TEXT_BYTES + 200);
	const bound = STALLED_READERS * (MAX_BUFFERED + 2 * page) + 40 * 2 ** 20;
	expect(during.streams).toBe(STALLED_READERS); // held, not cut off at once (which would cost nothing)
	// Held without growth: a later sample, the sockets still unread.
	const later = await memory();
	console.log(JSON.stringify({ before, during, later, growthMb: (later.rss - before.rss) / 2 ** 20, boundMb: bound / 2 ** 20 }));
	expect(during.rss - before.rss).toBeLessThan(bound);
	expect(later.rss - during.rss).toBeLessThan(5 * 2 ** 20);

	// A normal reader on the same channel is not held up by them.
	await readAll(channel);
	for (const socket of stalled) socket.destroy();
	await Promise.all(stalledClosed);
	await waitFor(
		async () => {
			const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
			return /^chatcast_sse_connections\{.*\} 0$/m.test(text);
		},
		10_000,
		"the stalled streams released",
	);
}, 90_000);
