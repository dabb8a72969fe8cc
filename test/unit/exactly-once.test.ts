/** The checker the integration tests rely on for "each seq exactly once, in order" must itself catch each failure. */
import { stripVTControlCharacters } from "node:util";
import { deliveryReport, expectEachExactlyOnce, expectExactlyOnce, seqRange } from "../support/exactly-once";

const clean = { missing: [], duplicated: [], outOfOrder: [], unexpected: [] };

describe("deliveryReport", () => {
	test("is all empty when each expected seq arrived once, in increasing order", () => {
		expect(deliveryReport([1, 2, 3], seqRange(1, 3))).toEqual(clean);
		expect(deliveryReport([], [])).toEqual(clean);
	});

	test("names missing, duplicated, out-of-order and unexpected seqs", () => {
		expect(deliveryReport([1, 3, 2, 3, 3, 9], seqRange(1, 4))).toEqual({
			missing: [4],
			duplicated: [3],
			outOfOrder: [2],
			unexpected: [9],
		});
	});

	test("a seq received again after its successors is a duplicate, not a disorder", () => {
		expect(deliveryReport([1, 2, 3, 2], seqRange(1, 3))).toEqual({ ...clean, duplicated: [2] });
	});
});

describe("expectExactlyOnce", () => {
	test("passes on exactly once, and fails naming the subscriber and the duplicate", () => {
		expect(() => expectExactlyOnce([4, 5, 6], [4, 5, 6])).not.toThrow();
		expect(() => expectExactlyOnce([4, 5, 5, 6], [4, 5, 6], "subscriber 3")).toThrow(/subscriber 3[\s\S]*duplicated/);
	});

	test("expectEachExactlyOnce waits for late seqs, and still sees a duplicate that arrives while it settles", async () => {
		const late: number[] = [1];
		setTimeout(() => late.push(2), 50);
		await expectEachExactlyOnce([{ name: "late", received: late, expected: [1, 2] }], { settleMs: 10 });

		const twice: number[] = [1, 2];
		setTimeout(() => twice.push(2), 20);
		const fine: number[] = [1, 2];
		const lost: number[] = [1];
		const failure = expectEachExactlyOnce(
			[
				{ name: "twice", received: twice, expected: [1, 2] },
				{ name: "fine", received: fine, expected: [1, 2] },
				{ name: "lost", received: lost, expected: [1, 2] },
			],
			{ timeoutMs: 100, settleMs: 100 },
		);
		// Both failing subscribers are named in the one failure.
		const message = await failure.then(
			() => "passed",
			(err: Error) => stripVTControlCharacters(err.message),
		);
		expect(message).toMatch(/"lost"[\s\S]*"missing": Array \[\n\s*\+\s*2,/);
		expect(message).toMatch(/"twice"[\s\S]*"duplicated": Array \[\n\s*\+\s*2,/);
	});
});
