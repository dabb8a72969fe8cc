/**
 * The contract every HistoryStore keeps, as a jest suite: run it with a way to create the store and
 * to make it lose a channel's count (what a restarted or expired store does).
 *
 * @example
 *   historyStoreContract("MemoryHistory", { create: () => new MemoryHistory(OPTIONS), restart: async () => new MemoryHistory(OPTIONS), marks: … });
 */
import { randomUUID } from "node:crypto";
import type { HistoryStore, HistoryStoreOptions } from "../../src/history-store";
import type { MessageDraft } from "../../src/message";

export const CONTRACT_OPTIONS: HistoryStoreOptions = { limit: 5, ttlSeconds: 60, idempotencySeconds: 60, pageMaxBytes: 4096 };

export function draft(channel: string, text: string, clientMsgId?: string): MessageDraft {
	return {
		id: randomUUID(),
		channel,
		author: "t",
		text,
		sentAt: new Date().toISOString(),
		...(clientMsgId ? { clientMsgId } : {}),
	};
}

export interface StoreUnderTest {
	/** A store with CONTRACT_OPTIONS. */
	create(): HistoryStore;
	/** Makes the store lose the channel's count, as a restart would; returns the store to use from then on. */
	restart(store: HistoryStore, channel: string): Promise<HistoryStore>;
	/** After all tests (e.g. delete the keys). */
	cleanup?(): Promise<void>;
	/** A store for the interest-mark tests, the TTL of its marks, and how to let time pass for it (a fake clock, or a wait). */
	marks(): MarksUnderTest;
}

export interface MarksUnderTest {
	store: HistoryStore;
	ttlMs: number;
	elapse(ms: number): Promise<void>;
}

/** Marks on the store's own clock (Redis's): time passes by waiting, so `ttlMs` should be short. */
export function waitedMarks(store: HistoryStore, ttlMs: number): MarksUnderTest {
	return { store, ttlMs, elapse: ms => new Promise(resolve => setTimeout(resolve, ms)) };
}

export function historyStoreContract(name: string, subject: StoreUnderTest): void {
	describe(`history store contract: ${name}`, () => {
		let store: HistoryStore;
		let channel: string;

		beforeAll(() => {
			store = subject.create();
		});
		beforeEach(() => {
			channel = randomUUID();
		});
		afterAll(async () => {
			await store.close();
			await subject.cleanup?.();
		});

		test('a new channel is empty: lastSeq 0, oldestSeq 1, epoch ""', async () => {
			expect(await store.range(channel, 0, 10)).toEqual({ epoch: "", messages: [], oldestSeq: 1, lastSeq: 0 });
		});

		test("append numbers 1, 2, 3 and stores the message as given", async () => {
			const results = [];
			for (const text of ["a", "b\nwith newline", 'c "quoted" {json}']) results.push(await store.append(draft(channel, text)));
			expect(results.map(r => [r.message.seq, r.created])).toEqual([
				[1, true],
				[2, true],
				[3, true],
			]);
			const page = await store.range(channel, 0, 10);
			expect(page.messages.map(m => m.text)).toEqual(["a", "b\nwith newline", 'c "quoted" {json}']);
			expect(page.messages[1]).toEqual(results[1].message);
			expect(page).toMatchObject({ oldestSeq: 1, lastSeq: 3 });
		});

		test("a channel's epoch is created with it, stable across appends, on every message and page", async () => {
			const messages = [];
			for (let i = 1; i <= 7; i++) messages.push((await store.append(draft(channel, `m${i}`))).message);
			const { epoch } = messages[0];
			expect(epoch).toMatch(/^[\w-]{8,}$/);
			expect(messages.map(m => m.epoch)).toEqual(messages.map(() => epoch));
			const page = await store.range(channel, 0, 100);
			expect(page.epoch).toBe(epoch);
			expect(page.messages.map(m => m.epoch)).toEqual(page.messages.map(() => epoch));
			expect((await store.lastSeqs([channel]))[channel]).toEqual({ epoch, lastSeq: 7 });
			await store.purge(channel);
			expect((await store.append(draft(channel, "after purge"))).message).toMatchObject({ seq: 8, epoch });
			const other = (await store.append(draft(randomUUID(), "elsewhere"))).message;
			expect(other.epoch).not.toBe(epoch);
		});

		test("a store that lost the channel's count counts again from 1 in a new epoch", async () => {
			await store.append(draft(channel, "before"));
			const before = (await store.append(draft(channel, "before"))).message;
			const restarted = await subject.restart(store, channel);
			expect(await restarted.range(channel, 0, 10)).toEqual({ epoch: "", messages: [], oldestSeq: 1, lastSeq: 0 });
			const after = (await restarted.append(draft(channel, "after"))).message;
			expect(after.seq).toBe(1);
			expect(after.epoch).not.toBe(before.epoch);
			expect(after.epoch).not.toBe("");
			expect(await restarted.range(channel, 0, 10)).toMatchObject({ epoch: after.epoch, lastSeq: 1 });
			expect((await restarted.lastSeqs([channel]))[channel]).toEqual({ epoch: after.epoch, lastSeq: 1 });
		});

		test("range returns seq > after, ascending, at most limit; limit 0 gives only the bounds", async () => {
			for (let i = 1; i <= 4; i++) await store.append(draft(channel, `m${i}`));
			expect((await store.range(channel, 1, 2)).messages.map(m => m.seq)).toEqual([2, 3]);
			expect((await store.range(channel, 3, 10)).messages.map(m => m.seq)).toEqual([4]);
			expect((await store.range(channel, 4, 10)).messages).toEqual([]);
			expect(await store.range(channel, 0, 0)).toEqual({ epoch: expect.any(String), messages: [], oldestSeq: 1, lastSeq: 4 });
		});

		test("a page holds at most pageMaxBytes of message JSON, counted in UTF-8 bytes; paging on with after gets the rest", async () => {
			// About 1 990 bytes of JSON each (1 800 of text): two fit in 4 096 bytes. Counted in characters (about 1 090), three would.
			for (const letter of "abcde") await store.append(draft(channel, `${letter}${"é".repeat(900)}`));
			const pages: number[][] = [];
			for (let after = 0; ; ) {
				const page = await store.range(channel, after, 10);
				if (page.messages.length === 0) break;
				const bytes = page.messages.reduce((sum, m) => sum + Buffer.byteLength(JSON.stringify(m)), 0);
				expect(bytes).toBeLessThanOrEqual(CONTRACT_OPTIONS.pageMaxBytes ?? 0);
				pages.push(page.messages.map(m => m.seq));
				after = page.messages[page.messages.length - 1].seq;
			}
			expect(pages).toEqual([[1, 2], [3, 4], [5]]);
			// The count bound still holds within the byte bound.
			expect((await store.range(channel, 0, 1)).messages.map(m => m.seq)).toEqual([1]);
		});

		test("a message larger than pageMaxBytes comes alone, so paging always progresses", async () => {
			await store.append(draft(channel, "x".repeat(5000)));
			await store.append(draft(channel, "small"));
			expect((await store.range(channel, 0, 10)).messages.map(m => m.seq)).toEqual([1]);
			expect((await store.range(channel, 1, 10)).messages.map(m => m.text)).toEqual(["small"]);
		});

		test("only the most recent `limit` are kept; oldestSeq says where history starts", async () => {
			for (let i = 1; i <= 8; i++) await store.append(draft(channel, `m${i}`));
			const page = await store.range(channel, 0, 100);
			expect(page.messages.map(m => m.seq)).toEqual([4, 5, 6, 7, 8]);
			expect(page).toMatchObject({ oldestSeq: 4, lastSeq: 8 });
		});

		test("a repeated clientMsgId returns the original, stores nothing", async () => {
			const first = await store.append(draft(channel, "once", "client-1"));
			const again = await store.append(draft(channel, "once", "client-1"));
			expect({ message: again.message, created: again.created }).toEqual({ message: first.message, created: false });
			// A store that hands back the stored text hands back the original's.
			expect(again.json ?? JSON.stringify(again.message)).toBe(JSON.stringify(first.message));
			expect((await store.range(channel, 0, 10)).lastSeq).toBe(1);
			// The key is per channel.
			expect((await store.append(draft(randomUUID(), "once", "client-1"))).created).toBe(true);
		});

		test("concurrent appends get distinct, contiguous seqs in one epoch", async () => {
			const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append(draft(channel, `c${i}`))));
			expect(results.map(r => r.message.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
			expect(new Set(results.map(r => r.message.epoch)).size).toBe(1);
		});

		test("purge deletes messages but seq keeps counting", async () => {
			for (let i = 1; i <= 3; i++) await store.append(draft(channel, `m${i}`));
			expect(await store.purge(channel)).toBe(3);
			expect(await store.range(channel, 0, 10)).toMatchObject({ messages: [], oldestSeq: 4, lastSeq: 3 });
			expect((await store.append(draft(channel, "after purge"))).message.seq).toBe(4);
		});

		test('lastSeqs reports each channel\'s epoch and last seq, "" and 0 for a new one', async () => {
			const other = randomUUID();
			await store.append(draft(channel, "a"));
			const { epoch } = (await store.append(draft(channel, "b"))).message;
			expect(await store.lastSeqs([channel, other])).toEqual({
				[channel]: { epoch, lastSeq: 2 },
				[other]: { epoch: "", lastSeq: 0 },
			});
		});

		test("ping answers", async () => {
			await expect(store.ping()).resolves.not.toBeNull();
		});
	});

	describe(`history store contract, interest marks: ${name}`, () => {
		let marks: MarksUnderTest;
		let channel: string;

		beforeAll(() => {
			marks = subject.marks();
		});
		beforeEach(() => {
			channel = randomUUID();
		});
		afterAll(() => marks.store.close());

		test("an append says whether the channel is marked: none → not listened; marked → listened; a repeat alike", async () => {
			const { store } = marks;
			expect(await store.append(draft(channel, "a", "one"))).toMatchObject({ created: true, listened: false });
			expect(await store.append(draft(channel, "a", "one"))).toMatchObject({ created: false, listened: false });
			await store.markInterest([channel, randomUUID()]);
			expect(await store.append(draft(channel, "b"))).toMatchObject({ created: true, listened: true });
			expect(await store.append(draft(channel, "a", "one"))).toMatchObject({ created: false, listened: true });
			// Another channel's mark says nothing about this one.
			expect(await store.append(draft(randomUUID(), "c"))).toMatchObject({ listened: false });
		});

		test("an interest mark expires after its TTL unless it is written again", async () => {
			const { store } = marks;
			const [kept, dropped] = [randomUUID(), randomUUID()];
			await store.markInterest([kept, dropped]);
			for (let i = 0; i < 4; i++) {
				await marks.elapse(marks.ttlMs / 2);
				await store.markInterest([kept]);
			}
			expect(await store.append(draft(kept, "x"))).toMatchObject({ listened: true });
			expect(await store.append(draft(dropped, "x"))).toMatchObject({ listened: false });
		});

		test("a publisher's own mark does not make its appends listened; another's does, until it stops refreshing", async () => {
			const { store } = marks;
			await store.markInterest([channel], "node-a");
			expect(await store.append(draft(channel, "own"), "node-a")).toMatchObject({ created: true, listened: false });
			expect(await store.append(draft(channel, "other's"), "node-b")).toMatchObject({ listened: true });
			expect(await store.append(draft(channel, "unknown publisher"))).toMatchObject({ listened: true });
			await store.markInterest([channel], "node-b");
			expect(await store.append(draft(channel, "two listeners"), "node-a")).toMatchObject({ listened: true });
			// An anonymous mark (the caller named no listener) counts as another listener's.
			const anonymous = randomUUID();
			await store.markInterest([anonymous]);
			expect(await store.append(draft(anonymous, "x"), "node-a")).toMatchObject({ listened: true });
			// node-b stops refreshing; node-a goes on.
			for (let i = 0; i < 4; i++) {
				await marks.elapse(marks.ttlMs / 2);
				await store.markInterest([channel], "node-a");
			}
			expect(await store.append(draft(channel, "alone again"), "node-a")).toMatchObject({ listened: false });
			expect(await store.append(draft(channel, "to node-a"), "node-b")).toMatchObject({ listened: true });
		});
	});
}
