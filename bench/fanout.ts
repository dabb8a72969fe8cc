/**
 * Fan-out benchmark: the broadcast node's delivery (ChannelHub: frame once per message, one write per
 * subscriber per tick) against the naive loop (JSON + frame + write per subscriber per message), side by
 * side in one run. Prints a table; compare the ratio column, not the absolute times (noisy machines).
 *
 *   npm run bench:internal
 */
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { ChannelHub } from "../src/channel-hub";
import { MemoryHistory } from "../src/memory-history";
import type { ChatMessage } from "../src/message";
import { sseEvent } from "../src/sse-frame";

/** A stream that accepts everything at once, like a fast client. */
class NullSink extends Writable {
	bytes = 0;
	override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
		this.bytes += chunk.length;
		done();
	}
}

const tick = (): Promise<void> => new Promise(resolve => setImmediate(resolve));

function messages(channel: string, count: number): ChatMessage[] {
	return Array.from({ length: count }, (_, i) => ({
		id: randomUUID(),
		seq: i + 1,
		epoch: "bench",
		channel,
		author: "bench",
		text: `message ${i} `.repeat(8),
		sentAt: new Date().toISOString(),
	}));
}

/** ChannelHub delivery; `perTick` messages arrive together, as a burst on the transporter would. */
async function hubRun(subscribers: number, batch: ChatMessage[], perTick: number): Promise<number> {
	const channel = batch[0].channel;
	const store = new MemoryHistory({ limit: 10, ttlSeconds: 60, idempotencySeconds: 60 });
	const hub = new ChannelHub({ fetchHistory: (c, after, limit) => store.range(c, after, limit) });
	const sinks = Array.from({ length: subscribers }, () => new NullSink());
	for (const sink of sinks) await hub.subscribe(channel, sink);
	const started = process.hrtime.bigint();
	for (let i = 0; i < batch.length; i += perTick) {
		for (const message of batch.slice(i, i + perTick)) hub.deliver(message);
		await tick();
	}
	const elapsed = Number(process.hrtime.bigint() - started);
	hub.closeAll(0);
	return elapsed;
}

/** The naive loop: every subscriber serializes and frames every message itself. */
async function naiveRun(subscribers: number, batch: ChatMessage[], perTick: number): Promise<number> {
	const sinks = Array.from({ length: subscribers }, () => new NullSink());
	const started = process.hrtime.bigint();
	for (let i = 0; i < batch.length; i += perTick) {
		for (const message of batch.slice(i, i + perTick)) {
			for (const sink of sinks) sink.write(sseEvent({ id: message.seq, event: "message", data: JSON.stringify(message) }));
		}
		await tick();
	}
	return Number(process.hrtime.bigint() - started);
}

const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
	const rows: Array<Record<string, string | number>> = [];
	const messageCount = 2000;
	for (const subscribers of [10, 100, 1000]) {
		for (const perTick of [1, 10]) {
			const batch = messages(randomUUID(), messageCount);
			const hub: number[] = [];
			const naive: number[] = [];
			for (let round = 0; round < 5; round++) {
				// Interleaved, so both see the same machine state.
				hub.push(await hubRun(subscribers, batch, perTick));
				naive.push(await naiveRun(subscribers, batch, perTick));
			}
			const deliveries = subscribers * messageCount;
			const hubNs = median(hub) / deliveries;
			const naiveNs = median(naive) / deliveries;
			rows.push({
				subscribers,
				"msgs/tick": perTick,
				"hub ns/delivery": hubNs.toFixed(0),
				"naive ns/delivery": naiveNs.toFixed(0),
				"naive ÷ hub": (naiveNs / hubNs).toFixed(2),
			});
		}
	}
	console.log(`Fan-out of ${messageCount} messages per row, median of 5 interleaved rounds (node ${process.version})`);
	console.table(rows);
}

void main();
