import type { PublishRecord, SubscriberEvent } from "../support/failover-client";
import { faultRows, formatRows, recoverySeconds, subscriberViews, troubleTimeline } from "../support/fault-report";

const ok = (n: number, sentAt: number, extra: Partial<PublishRecord> = {}): PublishRecord => ({
	clientMsgId: `m${n}`,
	sentAt,
	answeredAt: sentAt + 10,
	status: 201,
	attempts: 1,
	...extra,
});
const failed = (n: number, sentAt: number, answeredAt = sentAt + 1000): PublishRecord => ({
	clientMsgId: `m${n}`,
	sentAt,
	answeredAt,
	status: 503,
	type: "OUTCOME_UNKNOWN",
	attempts: 1,
});
const got = (n: number, at: number): SubscriberEvent => ({
	kind: "message",
	at,
	id: `id${n}`,
	clientMsgId: `m${n}`,
	seq: n,
	epoch: "e",
});
const reset = (at: number): SubscriberEvent => ({ kind: "reset", at, epoch: "f", oldestSeq: 1 });

const faults = [
	{ name: "first", at: 1000 },
	{ name: "second", at: 2000 },
];

describe("faultRows", () => {
	test("everything accepted delivered once: nothing lost, nothing twice", () => {
		const publishes = [ok(1, 1100), ok(2, 2100)];
		const rows = faultRows(faults, publishes, [[got(1, 1200), got(2, 2200)]], new Set(["m1", "m2"]));
		expect(rows.map(r => [r.accepted, r.rejected, r.lost, r.duplicates])).toEqual([
			[1, 0, 0, 0],
			[1, 0, 0, 0],
		]);
	});

	test("an accepted message one subscriber lacks is lost, in the window it was sent in; a rejected one is not", () => {
		const publishes = [ok(1, 1100), failed(2, 1200, 1500), ok(3, 2100)];
		const subscribers = [[got(1, 1150), got(3, 2200)], [got(3, 2200)]];
		const rows = faultRows(faults, publishes, subscribers, new Set(["m1", "m3"]));
		expect(rows.map(r => r.lost)).toEqual([1, 0]);
		expect(rows[0]).toMatchObject({ accepted: 1, rejected: 1, rejectedStored: 0 });
	});

	test("slowest delivery: from the answer to the last subscriber's first copy", () => {
		const publishes = [ok(1, 1100), ok(2, 1200)];
		const rows = faultRows(
			faults,
			publishes,
			[
				[got(1, 1150), got(2, 1300)],
				[got(1, 1600), got(2, 1250), got(1, 1900)],
			],
			new Set(),
		);
		expect(rows[0].slowestDeliverySeconds).toBeCloseTo(0.49);
	});

	test("a message in flight when the fault came belongs to the fault: it is answered in its window", () => {
		const rows = faultRows(faults, [ok(1, 1100), failed(2, 1990, 2500), ok(3, 2600)], [[got(1, 1150), got(3, 2650)]], new Set());
		expect(rows.map(r => [r.accepted, r.rejected])).toEqual([
			[1, 0],
			[1, 1],
		]);
		expect(rows[1].recoverySeconds).toBeCloseTo(0.61);
	});

	test("a rejected message the history holds is counted as stored", () => {
		const rows = faultRows(faults, [failed(1, 1100, 1400)], [[got(1, 1500)]], new Set(["m1"]));
		expect(rows[0]).toMatchObject({ rejected: 1, rejectedStored: 1, lost: 0, duplicates: 0 });
	});

	test("a message twice in one view is a duplicate, counted where it was received", () => {
		const rows = faultRows(faults, [ok(1, 1100)], [[got(1, 1200), got(1, 2500)]], new Set());
		expect(rows.map(r => r.duplicates)).toEqual([0, 1]);
	});

	test("what a reset sends again is redelivered, not a duplicate; what the view after it lacks is lost", () => {
		const publishes = [ok(1, 1100), ok(2, 1200)];
		const events = [got(1, 1150), got(2, 1250), reset(2100), got(2, 2150)];
		const rows = faultRows(faults, publishes, [events], new Set());
		expect(rows.map(r => [r.duplicates, r.redelivered])).toEqual([
			[0, 0],
			[0, 1],
		]);
		expect(rows[0].lost).toBe(1); // m1 is not in the view after the reset
		expect(subscriberViews(events)).toEqual([["m1", "m2"], ["m2"]]);
	});
});

describe("recoverySeconds", () => {
	test("without trouble: until the first accepted answer after the fault", () => {
		expect(recoverySeconds(1000, [ok(1, 1100)])).toBeCloseTo(0.11);
	});

	test("after the last rejected message: until the next accepted one is answered", () => {
		const window = [failed(1, 1000), ok(2, 2000), failed(3, 3000, 4000), ok(4, 4100)];
		expect(recoverySeconds(1000, window)).toBeCloseTo(3.11);
	});

	test("a message that needed another edge counts as trouble; its own acceptance is the recovery", () => {
		const window = [ok(1, 1000), ok(2, 1100, { attempts: 2, answeredAt: 3500 }), ok(3, 3600)];
		expect(recoverySeconds(1000, window)).toBeCloseTo(2.5);
	});

	test("never accepted again: Infinity", () => {
		expect(recoverySeconds(1000, [failed(1, 1100)])).toBe(Number.POSITIVE_INFINITY);
	});
});

test("formatRows: a markdown table with one line per fault", () => {
	const rows = faultRows(faults, [ok(1, 1100)], [[got(1, 1200)]], new Set());
	const lines = formatRows(rows).split("\n");
	expect(lines).toHaveLength(4);
	expect(lines[0]).toMatch(/^\| fault \|.* \| slowest delivery \|$/);
	expect(lines[1]).toBe("| --- | --- | --- | --- | --- | --- | --- | --- |");
	expect(lines[2]).toBe("| first | 1 | 0 (0) | 0 | 0 | 0 | 0.11 s | 0.09 s |");
});

test("troubleTimeline: the rejected and failed-over messages after a fault, times from the fault", () => {
	const publishes = [ok(1, 1100), failed(2, 1200, 1800), ok(3, 1300, { attempts: 2, answeredAt: 1900 }), failed(4, 2100)];
	expect(troubleTimeline(faults[0], faults[1].at, publishes)).toEqual([
		"+0.20 s → +0.80 s 503 OUTCOME_UNKNOWN, 1 edge(s)",
		"+0.30 s → +0.90 s 201, 2 edge(s)",
	]);
});
