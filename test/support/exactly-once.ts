/**
 * "Each expected seq exactly once, in increasing order", checked on everything a subscriber received
 * (in arrival order, duplicates included), with a report that names what went wrong.
 *
 * @example
 *   expectExactlyOnce(subscriber.received, seqRange(1, 30));
 *   // fails with e.g. { missing: [7], duplicated: [12], outOfOrder: [], unexpected: [] }
 */

export interface DeliveryReport {
	/** Expected seqs never received. */
	missing: number[];
	/** Seqs received more than once (each listed once). */
	duplicated: number[];
	/** Seqs whose first arrival came after a higher seq. */
	outOfOrder: number[];
	/** Seqs received that were not expected. */
	unexpected: number[];
}

const CLEAN: DeliveryReport = { missing: [], duplicated: [], outOfOrder: [], unexpected: [] };

/** What differs between `received` (arrival order) and "each of `expected` once, ascending"; all empty when none. */
export function deliveryReport(received: readonly number[], expected: Iterable<number>): DeliveryReport {
	const wanted = new Set(expected);
	const seen = new Set<number>();
	const report: DeliveryReport = { missing: [], duplicated: [], outOfOrder: [], unexpected: [] };
	let highest = Number.NEGATIVE_INFINITY;
	for (const seq of received) {
		if (seen.has(seq)) {
			if (!report.duplicated.includes(seq)) report.duplicated.push(seq);
			continue;
		}
		seen.add(seq);
		if (!wanted.has(seq)) report.unexpected.push(seq);
		if (seq < highest) report.outOfOrder.push(seq);
		highest = Math.max(highest, seq);
	}
	report.missing = [...wanted].filter(seq => !seen.has(seq)).sort((a, b) => a - b);
	return report;
}

/** Fails the test, showing the report, unless `received` is each of `expected` exactly once in increasing order. */
export function expectExactlyOnce(received: readonly number[], expected: Iterable<number>, who = "subscriber"): void {
	expect({ [who]: deliveryReport(received, expected) }).toEqual({ [who]: CLEAN });
}

/** The seqs from `from` to `to`, both included. */
export function seqRange(from: number, to: number): number[] {
	return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** One subscriber to check: the array it records into (arrival order), and what it must get. */
export interface Delivery {
	name: string;
	received: readonly number[];
	expected: readonly number[];
}

/**
 * Waits until every subscriber has each of its expected seqs (or `timeoutMs` passed), then `settleMs`
 * more so that late duplicates arrive too, then checks each with expectExactlyOnce.
 *
 * @example
 *   await expectEachExactlyOnce(subs.map((s, i) => ({ name: `subscriber ${i}`, received: s.received, expected })));
 */
export async function expectEachExactlyOnce(
	deliveries: readonly Delivery[],
	{ timeoutMs = 10_000, settleMs = 500 } = {},
): Promise<void> {
	const complete = (): boolean => deliveries.every(d => deliveryReport(d.received, d.expected).missing.length === 0);
	const deadline = Date.now() + timeoutMs;
	while (!complete() && Date.now() < deadline) await sleep(50);
	await sleep(settleMs);
	// One comparison over all of them, so a failure lists every subscriber that went wrong.
	expect(Object.fromEntries(deliveries.map(d => [d.name, deliveryReport(d.received, d.expected)]))).toEqual(
		Object.fromEntries(deliveries.map(d => [d.name, CLEAN])),
	);
}

function sleep(ms: number): Promise<void> {
	return new Promise(resolve => setTimeout(resolve, ms));
}
