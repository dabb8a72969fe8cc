/**
 * classifyStoreError: what a failed store command means for the data (the errors are ioredis's own classes and texts).
 */
import { ReplyError } from "ioredis";
import { classifyStoreError, ReplicasUnconfirmed, StoreNotReached } from "../../src/store-errors";

const reply = (text: string): Error => new ReplyError(text) as Error;

describe("classifyStoreError", () => {
	test("Redis refused with OOM (maxmemory, noeviction) → STORE_FULL, for any operation", () => {
		const oom = reply("OOM command not allowed when used memory > 'maxmemory'. script: abc, on @user_script:12.");
		expect(classifyStoreError(oom, "append")).toBe("STORE_FULL");
		expect(classifyStoreError(oom, "other")).toBe("STORE_FULL");
	});

	test.each(["WRONGTYPE a key of this channel holds the wrong kind of value", "BUSY Redis is busy running a script", "LOADING"])(
		"any other error reply (%s) → STORE_UNAVAILABLE: the command did not complete, nothing stored",
		text => {
			expect(classifyStoreError(reply(text), "append")).toBe("STORE_UNAVAILABLE");
		},
	);

	test("an error that only mentions OOM is not Redis's refusal", () => {
		expect(classifyStoreError(reply("ERR something about OOM"), "append")).toBe("STORE_UNAVAILABLE");
		expect(classifyStoreError(new Error("OOM command not allowed"), "other")).toBe("STORE_UNAVAILABLE");
	});

	test("a command never sent (no ready connection) → STORE_UNAVAILABLE, also for append", () => {
		expect(classifyStoreError(new StoreNotReached("Redis not connected (status: reconnecting)"), "append")).toBe(
			"STORE_UNAVAILABLE",
		);
		// ioredis's refusals to write a command without an offline queue: a node, or the whole Cluster, not ready.
		for (const message of [
			"Stream isn't writeable and enableOfflineQueue options is false",
			"Cluster isn't ready and enableOfflineQueue options is false",
		])
			expect(classifyStoreError(new Error(message), "append")).toBe("STORE_UNAVAILABLE");
	});

	test("an append WAIT did not see on enough replicas → OUTCOME_UNKNOWN: stored, maybe not for good", () => {
		expect(classifyStoreError(new ReplicasUnconfirmed("WAIT: 0 of 1 replicas within 1000 ms"), "append")).toBe("OUTCOME_UNKNOWN");
	});

	test.each<[string, Error]>([
		["a command timeout", new Error("Command timed out")],
		["the connection lost while waiting", new Error("Connection is closed.")],
		["an answer that does not parse", new SyntaxError("Unexpected token")],
	])("%s: append → OUTCOME_UNKNOWN (the script may have run), a read → STORE_UNAVAILABLE", (_name, err) => {
		expect(classifyStoreError(err, "append")).toBe("OUTCOME_UNKNOWN");
		expect(classifyStoreError(err, "other")).toBe("STORE_UNAVAILABLE");
	});
});
