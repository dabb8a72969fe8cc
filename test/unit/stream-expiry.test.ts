/** The schedule that ends streams with their tokens, and the hub's use of it. */
import { randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { ChannelHub } from "../../src/channel-hub";
import { MemoryHistory } from "../../src/memory-history";
import { ExpirySchedule } from "../../src/stream-expiry";

describe("ExpirySchedule", () => {
	test("items come due once their time has passed, soonest first; cancelled ones never", () => {
		const t0 = 1_000_000_000_000;
		const schedule = new ExpirySchedule<string>(t0);
		schedule.add("b", t0 + 2000);
		schedule.add("a", t0 + 1000);
		const cancel = schedule.add("c", t0 + 1500);
		schedule.add("d", t0 + 60_000);
		cancel();
		cancel();
		expect(schedule.size).toBe(3);
		expect(schedule.due(t0 + 999)).toEqual([]);
		expect(schedule.due(t0 + 1000)).toEqual(["a"]);
		expect(schedule.due(t0 + 5000)).toEqual(["b"]);
		// A time already past comes due at the next sweep.
		schedule.add("late", t0);
		expect(schedule.due(t0 + 5000)).toEqual(["late"]);
		// After a long pause every past bucket is taken.
		expect(schedule.due(t0 + 3_600_000)).toEqual(["d"]);
		expect(schedule.size).toBe(0);
	});
});

class Sink extends PassThrough {
	events: EventSourceMessage[] = [];
	constructor() {
		super();
		const parser = createParser({ onEvent: e => this.events.push(e) });
		this.on("data", (chunk: Buffer) => parser.feed(chunk.toString()));
	}
}

describe("ChannelHub: streams end with their token", () => {
	test("a timed stream gets everything delivered before it, then `event: expired`, and ends; others stay", async () => {
		const store = new MemoryHistory({ limit: 100, ttlSeconds: 3600, idempotencySeconds: 600 });
		const hub = new ChannelHub({ fetchHistory: (c, after, limit) => store.range(c, after, limit) });
		const channel = randomUUID();
		const timed = new Sink();
		const forever = new Sink();
		// Tokens expire at whole seconds (exp).
		const expiresAt = (Math.floor(Date.now() / 1000) + 1) * 1000;
		await hub.subscribe(channel, timed, { expiresAt });
		await hub.subscribe(channel, forever);
		expect(hub.timedStreams).toBe(1);
		const { message } = await store.append({
			id: randomUUID(),
			channel,
			author: "a",
			text: "x",
			sentAt: new Date().toISOString(),
		});
		hub.deliver(message);
		expect(hub.expireDue(expiresAt - 1000)).toBe(0);
		// Same tick as the delivery: the message goes out before the expiry.
		expect(hub.expireDue(expiresAt)).toBe(1);
		await new Promise(r => setImmediate(r));
		expect(timed.events.map(e => e.event)).toEqual(["message", "expired"]);
		expect(timed.writableEnded).toBe(true);
		expect(forever.writableEnded).toBe(false);
		expect(hub.subscriberCount(channel)).toBe(1);
		expect(hub.timedStreams).toBe(0);
	});

	test("a stream that closes before its time leaves the schedule", async () => {
		const store = new MemoryHistory({ limit: 100, ttlSeconds: 3600, idempotencySeconds: 600 });
		const hub = new ChannelHub({ fetchHistory: (c, after, limit) => store.range(c, after, limit) });
		const sink = new Sink();
		await hub.subscribe(randomUUID(), sink, { expiresAt: Date.now() + 60_000 });
		sink.destroy();
		await new Promise(r => setImmediate(r));
		expect(hub.timedStreams).toBe(0);
	});
});
