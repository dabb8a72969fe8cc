/**
 * The pure parts of the channel bus (src/channel-bus.ts): topics, the seal over a channel's topic, the
 * checks a packet passes before a listener sees it, and the in-process bus of a single node.
 */
import { randomUUID } from "node:crypto";
import { messageCheck } from "../../moleculer.config";
import { sealPacket } from "../../src/bus-auth";
import { channelTopic, LocalChannelBus, openMessage, sealMessage, topicChannel } from "../../src/channel-bus";
import type { ChatMessage } from "../../src/message";

const secret = "s".repeat(64);
const accept = messageCheck();
const channel = randomUUID();
const topic = channelTopic("ns", channel);
const message: ChatMessage = {
	id: randomUUID(),
	seq: 1,
	epoch: "Kq3aaaaaaaaa",
	channel,
	author: "ada",
	text: "hello",
	sentAt: new Date().toISOString(),
};

describe("topics", () => {
	test("a channel's topic is under the namespace, and names the channel back", () => {
		expect(topic).toBe(`ns/channel/${channel}`);
		expect(topicChannel("ns", topic)).toBe(channel);
	});

	test("topics of other namespaces, other kinds or deeper levels name no channel", () => {
		for (const other of [
			`nsx/channel/${channel}`,
			`other/channel/${channel}`,
			`ns/chan/${channel}`,
			`${topic}/x`,
			"ns/channel/",
		]) {
			expect(topicChannel("ns", other)).toBeUndefined();
		}
	});
});

describe("sealed messages", () => {
	test("a message sealed with the secret opens as itself", () => {
		expect(openMessage([secret], topic, channel, sealMessage(secret, topic, message), accept)).toEqual({ message });
	});

	test("during a rotation, a message sealed with the previous secret still opens", () => {
		const next = "n".repeat(64);
		expect(openMessage([next, secret], topic, channel, sealMessage(secret, topic, message), accept)).toEqual({ message });
	});

	test("another secret, no seal, or a packet older than 30 s are refused", () => {
		const forged = sealMessage("x".repeat(64), topic, message);
		expect(openMessage([secret], topic, channel, forged, accept)).toEqual({ rejected: "bad-signature" });
		expect(openMessage([secret], topic, channel, Buffer.from(JSON.stringify(message)), accept)).toEqual({
			rejected: "malformed",
		});
		const old = sealMessage(secret, topic, message, Date.now() - 31_000);
		expect(openMessage([secret], topic, channel, old, accept)).toEqual({ rejected: "expired" });
	});

	test("a packet of one channel's topic cannot be replayed on another's", () => {
		const other = randomUUID();
		const sealed = sealMessage(secret, topic, message);
		expect(openMessage([secret], channelTopic("ns", other), other, sealed, accept)).toEqual({ rejected: "bad-signature" });
	});

	test("a sealed payload that names another channel than its topic is dropped", () => {
		const other = randomUUID();
		const otherTopic = channelTopic("ns", other);
		expect(openMessage([secret], otherTopic, other, sealMessage(secret, otherTopic, message), accept)).toEqual({
			rejected: "invalid",
		});
	});

	test("sealed payloads that are not a stored message's shape are dropped", () => {
		const junk: unknown[] = [
			{ ...message, seq: -1 },
			{ ...message, seq: 1.5 },
			{ ...message, channel: "nope" },
			{ ...message, text: 42 },
			{ ...message, id: "not-a-uuid" },
			{ seq: 1 },
			[message],
			"text",
			null,
		];
		for (const payload of junk) {
			const raw = sealPacket(secret, topic, Buffer.from(JSON.stringify(payload)));
			expect({ payload, opened: openMessage([secret], topic, channel, raw, accept) }).toEqual({
				payload,
				opened: { rejected: "invalid" },
			});
		}
		const notJson = sealPacket(secret, topic, Buffer.from("{not json"));
		expect(openMessage([secret], topic, channel, notJson, accept)).toEqual({ rejected: "invalid" });
	});
});

describe("LocalChannelBus", () => {
	test("a published message reaches this process's listeners until they stop listening", async () => {
		const bus = new LocalChannelBus();
		const got: number[] = [];
		const stop = bus.listen({ message: m => got.push(m.seq), resubscribed: () => undefined });
		await bus.join(channel);
		bus.publish(message);
		stop();
		bus.publish({ ...message, seq: 2 });
		expect(got).toEqual([1]);
	});
});
