/**
 * What ending streams with their tokens costs a node: the one ExpirySchedule swept once a second
 * (src/stream-expiry.ts) against one setTimeout per stream, for N streams whose tokens expire over the
 * next hour. Measures scheduling (add), the heap it holds, cancelling (streams that close first), and a
 * sweep that ends 1% of them at once. Side by side, alternating rounds; read the ratios.
 *
 *   npm run build && tsc -p bench/tsconfig.json && node --expose-gc dist/bench/expiry-cost.js
 */
import { ExpirySchedule } from "../src/stream-expiry";

const N = Number(process.env.BENCH_STREAMS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Result {
	addMs: number;
	heapBytes: number;
	cancelMs: number;
	sweepMs: number;
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const now = Date.now();
const expiries = Array.from({ length: N }, (_, i) => now + 60_000 + (i % 3600) * 1000);
const streams = Array.from({ length: N }, (_, i) => ({ id: i }));

function schedule(): Result {
	gc();
	const before = process.memoryUsage().heapUsed;
	const expiry = new ExpirySchedule<{ id: number }>(now);
	let t = performance.now();
	const cancels = streams.map((s, i) => expiry.add(s, expiries[i]));
	const addMs = performance.now() - t;
	gc();
	const heapBytes = process.memoryUsage().heapUsed - before;
	t = performance.now();
	let ended = 0;
	ended += expiry.due(now + 60_000 + 35 * 1000).length; // 36 of 3600 seconds: 1%
	const sweepMs = performance.now() - t;
	t = performance.now();
	for (const cancel of cancels) cancel();
	const cancelMs = performance.now() - t;
	if (ended === 0) throw new Error("nothing came due");
	return { addMs, heapBytes, cancelMs, sweepMs };
}

function timers(): Promise<Result> {
	gc();
	const before = process.memoryUsage().heapUsed;
	const fired: Array<{ id: number }> = [];
	let t = performance.now();
	const handles = streams.map((s, i) => setTimeout(() => fired.push(s), expiries[i] - now));
	const addMs = performance.now() - t;
	gc();
	const heapBytes = process.memoryUsage().heapUsed - before;
	// The timers' 1% firing is not timed here (it would take a minute): setTimeout's own cost per fire is a closure call.
	t = performance.now();
	for (const handle of handles) clearTimeout(handle);
	const cancelMs = performance.now() - t;
	return Promise.resolve({ addMs, heapBytes, cancelMs, sweepMs: Number.NaN });
}

async function main(): Promise<void> {
	const rows: Array<[string, Result]> = [];
	for (let round = 0; round < ROUNDS; round++) {
		rows.push(["schedule", schedule()]);
		rows.push(["setTimeout", await timers()]);
	}
	const median = (name: string, key: keyof Result): number => {
		const values = rows
			.filter(([n]) => n === name)
			.map(([, r]) => r[key])
			.sort((a, b) => a - b);
		return values[Math.floor(values.length / 2)];
	};
	console.log(`${N} streams, tokens expiring over an hour; median of ${ROUNDS} rounds`);
	console.log("structure    add ms   heap MiB  cancel ms  sweep of 1% ms");
	for (const name of ["schedule", "setTimeout"]) {
		console.log(
			`${name.padEnd(11)} ${median(name, "addMs").toFixed(1).padStart(7)} ${(median(name, "heapBytes") / 2 ** 20).toFixed(1).padStart(10)} ${median(name, "cancelMs").toFixed(1).padStart(10)} ${median(name, "sweepMs").toFixed(2).padStart(15)}`,
		);
	}
	console.log(
		`setTimeout / schedule: add ×${(median("setTimeout", "addMs") / median("schedule", "addMs")).toFixed(1)}, heap ×${(median("setTimeout", "heapBytes") / median("schedule", "heapBytes")).toFixed(1)}, cancel ×${(median("setTimeout", "cancelMs") / median("schedule", "cancelMs")).toFixed(1)}`,
	);
}

void main();
