/**
 * ingest + history in one in-process broker: a message is accepted only once stored, published on the
 * channel bus once stored (and never when not), and never stored twice.
 */
import { randomUUID } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { createHistoryService, createIngestService } from "../../services";
import { LocalChannelBus } from "../../src/channel-bus";
import { loadConfig } from "../../src/config";
import type { ChatMessage } from "../../src/message";

/** Defaults, history in memory. */
const config = loadConfig({});

function startBroker(history: object = createHistoryService(config)) {
	const broker = new ServiceBroker({ logger: false, nodeID: `unit-${randomUUID().slice(0, 6)}` });
	const received: { published: ChatMessage[] } = { published: [] };
	const bus = new LocalChannelBus();
	bus.listen({ message: message => received.published.push(message), resubscribed: () => undefined });
	broker.createService({ name: "history", mixins: [history] });
	broker.createService(createIngestService(config, bus));
	return { broker, received };
}

describe("ingest.publish", () => {
	test("stores, answers 201 with the message, and publishes it on the channel bus", async () => {
		const { broker, received } = startBroker();
		await broker.start();
		try {
			const channel = randomUUID();
			const meta: Record<string, unknown> = {};
			const message = await broker.call<ChatMessage, object>(
				"ingest.publish",
				{ channel, text: "hello", author: "ada" },
				{ meta },
			);
			expect(message).toMatchObject({ seq: 1, channel, text: "hello", author: "ada" });
			expect(meta.$statusCode).toBe(201);
			const page = await broker.call<{ messages: ChatMessage[] }, object>("history.range", { channel });
			expect(page.messages).toEqual([message]);
			expect(received.published).toEqual([message]);
		} finally {
			await broker.stop();
		}
	});

	test("a repeated clientMsgId answers 200 with the original and stores nothing new", async () => {
		const { broker } = startBroker();
		await broker.start();
		try {
			const channel = randomUUID();
			const first = await broker.call<ChatMessage, object>("ingest.publish", { channel, text: "once", clientMsgId: "k1" });
			const meta: Record<string, unknown> = {};
			const again = await broker.call<ChatMessage, object>(
				"ingest.publish",
				{ channel, text: "once", clientMsgId: "k1" },
				{ meta },
			);
			expect(again).toEqual(first);
			expect(meta.$statusCode).toBe(200);
			const page = await broker.call<{ lastSeq: number }, object>("history.range", { channel });
			expect(page.lastSeq).toBe(1);
		} finally {
			await broker.stop();
		}
	});

	test("when history cannot store, the answer is 503 STORE_UNAVAILABLE and nothing is broadcast", async () => {
		const failing = {
			name: "history",
			actions: {
				append: {
					handler() {
						throw new Error("redis is down");
					},
				},
			},
		};
		const { broker, received } = startBroker(failing);
		await broker.start();
		try {
			await expect(broker.call("ingest.publish", { channel: randomUUID(), text: "lost?" })).rejects.toMatchObject({
				code: 503,
				type: "STORE_UNAVAILABLE",
			});
			expect(received.published).toEqual([]);
		} finally {
			await broker.stop();
		}
	});

	test("invalid input is refused before anything is stored", async () => {
		const { broker, received } = startBroker();
		await broker.start();
		try {
			await expect(broker.call("ingest.publish", { channel: "nope", text: "x" })).rejects.toMatchObject({
				code: 400,
				type: "INVALID_CHANNEL",
			});
			await expect(broker.call("ingest.publish", { channel: randomUUID(), text: " " })).rejects.toMatchObject({
				code: 400,
				type: "EMPTY_MESSAGE",
			});
			expect(received.published).toEqual([]);
		} finally {
			await broker.stop();
		}
	});
});
