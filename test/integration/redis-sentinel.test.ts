/**
 * Chatcast on a real Sentinel group (a master, 2 replicas, 3 Sentinels, of this file's own): the
 * history-store contract, and a failover while publishing: publishes resume within seconds and, with
 * minReplicas 1, every accepted message is in the new master's history, once, in order.
 */
import { randomUUID } from "node:crypto";
import type { ChatMessage } from "../../src/message";
import type { RedisTarget } from "../../src/redis-connection";
import { RedisHistory } from "../../src/redis-history";
import { CONTRACT_OPTIONS, draft } from "../support/history-store-contract";
import { type SentinelTopology, redisTopologyContract, startSentinelGroup } from "../support/redis-topology";

let topology: SentinelTopology;
let target: RedisTarget;
const prefix = `chatcast-test-${randomUUID().slice(0, 8)}:`;

beforeAll(async () => {
	topology = await startSentinelGroup({ replicas: 2, sentinels: 3 });
	target = { kind: "sentinel", sentinels: topology.sentinels, name: topology.name, tls: false };
}, 60_000);
afterAll(async () => {
	await topology.stop();
});

redisTopologyContract("RedisHistory through Redis Sentinel", () => target, prefix);

test("the master is killed while publishing: publishes resume within seconds, no accepted message is lost", async () => {
	const store = new RedisHistory(target, { ...CONTRACT_OPTIONS, limit: 10_000, keyPrefix: prefix, minReplicas: 1 });
	const channel = randomUUID();
	const accepted: ChatMessage[] = [];
	const acceptedAt: number[] = [];
	const failures: number[] = [];
	let stop = false;
	// One publisher, like a client: the next message once this one is answered; a failed one is retried
	// with the same clientMsgId (the original, if it was stored, comes back).
	const publisher = (async () => {
		for (let n = 0; !stop; ) {
			try {
				const { message } = await store.append(draft(channel, `m${n}`, `id-${n}`));
				accepted.push(message);
				acceptedAt.push(Date.now());
				n++;
			} catch {
				failures.push(Date.now());
				await new Promise(resolve => setTimeout(resolve, 50));
			}
		}
	})();
	await new Promise(resolve => setTimeout(resolve, 300));
	const master = await topology.currentMaster();
	if (!master) throw new Error("no master");
	const before = accepted.length;
	const killedAt = Date.now();
	await master.kill();
	// Publishing resumes: messages accepted after the kill, by the new master.
	const deadline = killedAt + 15_000;
	while (Date.now() < deadline && (accepted.length <= before + 20 || failures.length === 0)) {
		await new Promise(resolve => setTimeout(resolve, 50));
	}
	stop = true;
	await publisher;
	const resumedAfterMs = (acceptedAt.find(at => at > (failures.at(-1) ?? 0)) ?? Number.NaN) - killedAt;
	console.log(
		`failover: ${before} accepted before the kill, ${failures.length} failed attempts, resumed after ${resumedAfterMs} ms`,
	);
	expect(accepted.length).toBeGreaterThan(before + 20);
	expect(resumedAfterMs).toBeLessThan(10_000);
	expect((await topology.currentMaster())?.port).not.toBe(master.port);

	// Every accepted message, once each, in the order accepted, with the seq it was given.
	const stored: ChatMessage[] = [];
	for (let after = 0; ; ) {
		const page = await store.range(channel, after, 500);
		if (page.messages.length === 0) break;
		stored.push(...page.messages);
		after = page.messages[page.messages.length - 1].seq;
	}
	const ids = accepted.map(m => m.clientMsgId);
	expect(new Set(ids).size).toBe(ids.length);
	expect(stored.map(m => m.clientMsgId)).toEqual(ids);
	expect(stored.map(m => m.seq)).toEqual(accepted.map(m => m.seq));
	expect(stored.map(m => m.seq)).toEqual(stored.map((_, i) => i + 1));
	// The new master goes on counting in a new epoch: what the old one acknowledged last may not have reached it.
	expect(new Set(stored.map(m => m.epoch)).size).toBe(2);
	await store.close();
}, 60_000);
