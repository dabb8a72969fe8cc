/**
 * memoryCheck: what `/api/ready` says about the store's memory.
 */
import { memoryCheck } from "../../src/history-store";

describe("memoryCheck", () => {
	test("below 90% of maxmemory: ok, with the share", () => {
		expect(memoryCheck({ usedBytes: 42, maxBytes: 100 })).toEqual({ ok: true, text: "ok (42% of maxmemory)" });
		expect(memoryCheck({ usedBytes: 899, maxBytes: 1000 })).toEqual({ ok: true, text: "ok (89% of maxmemory)" });
	});

	test("from 90% on: under pressure (a full Redis is past 100%)", () => {
		expect(memoryCheck({ usedBytes: 900, maxBytes: 1000 })).toEqual({ ok: false, text: "under pressure (90% of maxmemory)" });
		expect(memoryCheck({ usedBytes: 1010, maxBytes: 1000 })).toEqual({ ok: false, text: "under pressure (101% of maxmemory)" });
	});

	test("no maxmemory, or a store without such a limit: ok", () => {
		expect(memoryCheck({ usedBytes: 5_000_000, maxBytes: 0 })).toEqual({ ok: true, text: "ok (no maxmemory)" });
		expect(memoryCheck(undefined)).toEqual({ ok: true, text: "ok (no limit)" });
	});
});
