/**
 * Interest marks (src/channel-bus.ts, src/redis-history.ts) on the real Redis and the real Mosquitto: a
 * publisher's bus (its own MQTT connection, as ingest's) sends no packet for a channel no bus marked; a
 * bus that joins while appends run back to back gets every message after the position it read, none
 * twice; a joined bus keeps its marks alive by refreshing them, and lets them expire once it left.
 * The joiner's marks go through a 5 ms delay, like a `history.interest` call to another node: a join that
 * resolved before its mark was in Redis would lose the appends of that window.
 */
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import { connect, type MqttClient } from "mqtt";
import { messageCheck } from "../../moleculer.config";
import { MqttChannelBus } from "../../src/channel-bus";
import type { ChatMessage } from "../../src/message";
import { publishMessage } from "../../src/publish";
import { RedisHistory } from "../../src/redis-history";
import { seqRange } from "../support/exactly-once";
import { CONTRACT_OPTIONS, draft } from "../support/history-store-contract";
import { MQTT_URL, REDIS_URL, uniqueNamespace, waitFor } from "../support/node-process";

const namespace = uniqueNamespace("interest");
const keyPrefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;
const TTL_MS = 400;
const store = new RedisHistory(REDIS_URL, { ...CONTRACT_OPTIONS, limit: 10_000, keyPrefix, interestTtlMs: TTL_MS });
const delay = (ms: number) => new Promise(r => setTimeout(r, ms));
const busOptions = { urls: [MQTT_URL], secrets: ["interest-test-secret"], namespace, accept: messageCheck(), lingerMs: 50 };
/** The publishing side's bus: it joins nothing, so it needs no marks. */
const publisher = new MqttChannelBus({ ...busOptions, markInterest: () => Promise.resolve() });
/** The joining side's bus: marks through a remote call's delay, refreshed every TTL/4. */
const joiner = new MqttChannelBus({
	...busOptions,
	markInterest: channels => delay(5).then(() => store.markInterest(channels)),
	interestRefreshMs: TTL_MS / 4,
});
const received = new Map<string, number[]>();
/** Packets on the namespace's channel topics, per channel (an MQTT client subscribed to all of them). */
const packets = new Map<string, number>();
let probe: MqttClient;

beforeAll(async () => {
	await Promise.all([publisher.start(), joiner.start()]);
	joiner.listen({
		message: (m: ChatMessage) => received.set(m.channel, [...(received.get(m.channel) ?? []), m.seq]),
		resubscribed: () => undefined,
	});
	probe = connect(MQTT_URL);
	probe.on("message", topic => {
		const channel = topic.split("/").pop() ?? "";
		packets.set(channel, (packets.get(channel) ?? 0) + 1);
	});
	await probe.subscribeAsync(`${namespace}/channel/#`);
});

afterAll(async () => {
	await Promise.all([publisher.stop(), joiner.stop(), probe?.endAsync()]);
	const redis = new Redis(REDIS_URL);
	const keys = await redis.keys(`${keyPrefix}*`);
	if (keys.length > 0) await redis.del(...keys);
	await redis.quit();
	await store.close();
});

const deps = { maxMessageBytes: 4096, bus: publisher, published: () => undefined, warn: () => undefined };
const publish = (channel: string, text: string) => publishMessage({ channel, text }, undefined, d => store.append(d), deps);

test("a channel no node marked gets no bus packet; once a bus joined it, every message is a packet", async () => {
	const channel = randomUUID();
	for (let i = 0; i < 10; i++) await publish(channel, `unheard ${i}`);
	await joiner.join(channel);
	for (let i = 0; i < 10; i++) await publish(channel, `heard ${i}`);
	await waitFor(() => received.get(channel)?.length === 10, 5000, "the joiner to get the packets");
	await delay(200);
	expect(received.get(channel)).toEqual(seqRange(11, 20));
	expect(packets.get(channel)).toBe(10);
	joiner.leave(channel);
});

test("a bus that joins while appends run back to back gets every message after the position it read, each once", async () => {
	for (let trial = 0; trial < 5; trial++) {
		const channel = randomUUID();
		let running = true;
		let last = 0;
		// Four publishers at once: Redis is never idle, so appends land in every moment of the join.
		const appending = Promise.all(
			[1, 2, 3, 4].map(async () => {
				while (running) last = Math.max(last, (await publish(channel, "x")).message.seq);
			}),
		);
		await delay(20 + trial * 7);
		await joiner.join(channel);
		const position = (await store.range(channel, 0, 0)).lastSeq;
		await delay(150);
		running = false;
		await appending;
		const expected = seqRange(position + 1, last);
		await waitFor(
			() => (received.get(channel) ?? []).filter(seq => seq > position).length >= expected.length,
			5000,
			"every message after the position",
		).catch(() => undefined);
		expect({ trial, got: (received.get(channel) ?? []).filter(seq => seq > position) }).toEqual({ trial, got: expected });
		expect(expected.length).toBeGreaterThan(0);
		joiner.leave(channel);
	}
}, 30_000);

test("a joined bus refreshes its marks past their TTL; after it left they expire", async () => {
	const channel = randomUUID();
	await joiner.join(channel);
	await delay(TTL_MS * 3);
	expect(await store.append(draft(channel, "t"))).toMatchObject({ listened: true });
	joiner.leave(channel);
	// The linger (50 ms), then no refresh: gone within the TTL.
	await delay(50 + TTL_MS * 2);
	expect(await store.append(draft(channel, "t"))).toMatchObject({ listened: false });
});
