/**
 * Replication as a publish sees it (a master and a replica of this file's own): with REDIS_MIN_REPLICAS a
 * publish is 2xx only once WAIT saw a replica take it, 503 OUTCOME_UNKNOWN otherwise; and a replica promoted
 * without the master's last writes goes on counting in a new epoch, never reusing a seq silently.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import { RedisHistory } from "../../src/redis-history";
import { classifyStoreError } from "../../src/store-errors";
import { CONTRACT_OPTIONS, draft } from "../support/history-store-contract";
import { post } from "../support/http";
import { startNode, uniqueNamespace, waitFor } from "../support/node-process";
import { type OwnRedis, startRedisServer } from "../support/redis-server";

let master: OwnRedis;
let replica: OwnRedis;

async function replicaOnline(): Promise<void> {
	await waitFor(async () => /^slave0:.*state=online/m.test(await master.client.info("replication")), 10_000, "replica online");
}

beforeAll(async () => {
	// A replica's full sync writes an RDB file unless it is told where: the temp folder, not the checkout.
	master = await startRedisServer(["--dir", os.tmpdir(), "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]);
	replica = await startRedisServer(["--dir", os.tmpdir(), "--replicaof", "127.0.0.1", new URL(master.url).port]);
	await replicaOnline();
});
afterAll(async () => {
	await Promise.all([master.stop(), replica.stop()]);
});

test("REDIS_MIN_REPLICAS=1: 201 once the replica has it; a stopped replica makes it 503 OUTCOME_UNKNOWN; the retry confirms the original", async () => {
	const node = await startNode({
		namespace: uniqueNamespace("min-replicas"),
		env: { REDIS_URL: master.url, REDIS_MIN_REPLICAS: "1", REDIS_WAIT_TIMEOUT_MS: "300" },
	});
	try {
		const url = `${node.baseUrl}/api/channels/${randomUUID()}/messages`;
		const first = await post(url, { text: "replicated", clientMsgId: "a" });
		expect(first.status).toBe(201);

		replica.signal("SIGSTOP");
		let unconfirmed: Awaited<ReturnType<typeof post>>;
		try {
			unconfirmed = await post(url, { text: "only on the master", clientMsgId: "b" });
			// A repeat is confirmed too: its original may have been answered 503 like this one.
			expect((await post(url, { text: "replicated", clientMsgId: "a" })).status).toBe(503);
		} finally {
			replica.signal("SIGCONT");
		}
		expect(unconfirmed.status).toBe(503);
		expect(unconfirmed.body).toMatchObject({ type: "OUTCOME_UNKNOWN" });

		await replicaOnline();
		const retry = await post<{ seq: number; text: string }>(url, { text: "only on the master", clientMsgId: "b" });
		expect(retry.status).toBe(200);
		expect(retry.body).toMatchObject({ seq: 2, text: "only on the master" });
	} finally {
		await node.stop();
	}
}, 30_000);

test("WAIT that sees too few replicas is an unknown outcome, not a failure that stored nothing", async () => {
	const store = new RedisHistory(master.url, {
		...CONTRACT_OPTIONS,
		keyPrefix: `${uniqueNamespace()}:`,
		minReplicas: 2,
		waitTimeoutMs: 100,
	});
	try {
		const channel = randomUUID();
		const err = await store.append(draft(channel, "one replica only")).catch((e: unknown) => e);
		expect(classifyStoreError(err, "append")).toBe("OUTCOME_UNKNOWN");
		expect((await store.range(channel, 0, 10)).messages.map(m => m.text)).toEqual(["one replica only"]);
	} finally {
		await store.close();
	}
});

test("a repeat through another connection waits for the replicas too: its original may never have reached them", async () => {
	const options = { ...CONTRACT_OPTIONS, keyPrefix: `${uniqueNamespace()}:`, minReplicas: 1, waitTimeoutMs: 200 };
	const first = new RedisHistory(master.url, options);
	const other = new RedisHistory(master.url, options);
	const channel = randomUUID();
	replica.signal("SIGSTOP");
	try {
		const stored = await first.append(draft(channel, "unconfirmed", "x")).catch((e: unknown) => e);
		expect(classifyStoreError(stored, "append")).toBe("OUTCOME_UNKNOWN");
		// A fresh connection has written nothing: a bare WAIT would be satisfied at once.
		const repeat = await other.append(draft(channel, "unconfirmed", "x")).catch((e: unknown) => e);
		expect(classifyStoreError(repeat, "append")).toBe("OUTCOME_UNKNOWN");
	} finally {
		replica.signal("SIGCONT");
		await Promise.all([first.close(), other.close()]);
	}
	await replicaOnline();
});

test("a replica promoted without the master's last appends counts on in a new epoch: no (epoch, seq) names two messages", async () => {
	const options = { ...CONTRACT_OPTIONS, keyPrefix: `${uniqueNamespace()}:` };
	const channel = randomUUID();
	const onMaster = new RedisHistory(master.url, options);
	const onReplica = new RedisHistory(replica.url, options);
	try {
		await onMaster.append(draft(channel, "replicated"));
		await master.client.wait(1, 2000);
		// The replica is cut off; the master accepts one more, which the replica never gets; then the replica is promoted.
		await replica.client.replicaof("NO", "ONE");
		const lost = (await onMaster.append(draft(channel, "lost in the failover"))).message;
		const next = (await onReplica.append(draft(channel, "after the failover"))).message;
		expect(next.seq).toBe(lost.seq);
		expect(next.epoch).not.toBe(lost.epoch);
		expect((await onReplica.range(channel, 0, 10)).messages.map(m => [m.seq, m.epoch])).toEqual([
			[1, lost.epoch],
			[2, next.epoch],
		]);
	} finally {
		await Promise.all([onMaster.close(), onReplica.close()]);
		await replica.client.replicaof("127.0.0.1", new URL(master.url).port);
		await replicaOnline();
	}
});
