/**
 * What a failed history store command means for the client: the one rule, in one place.
 *
 * - Redis answered with an error reply: `OOM …` (maxmemory reached, noeviction) → STORE_FULL; any other
 *   reply (WRONGTYPE, BUSY, READONLY, LOADING, …) → STORE_UNAVAILABLE. An error reply means the command
 *   did not complete, and the append script does every check before its first write (and Redis refuses
 *   OOM at a script's first write), so nothing was stored.
 * - The command never left this process (`StoreNotReached`: the connection was not ready, and no offline
 *   queue sends it later; or ioredis refused to write it to a connection that is not writable)
 *   → STORE_UNAVAILABLE.
 * - The append ran but fewer replicas than REDIS_MIN_REPLICAS confirmed it (`ReplicasUnconfirmed`): it
 *   may survive or be lost in a failover → OUTCOME_UNKNOWN.
 * - Anything else (a command timeout, the connection lost while waiting for the answer, a failure after
 *   the answer): for `append` → OUTCOME_UNKNOWN, since the script may have run; for every other operation (reads, purge, ping) → STORE_UNAVAILABLE.
 *
 * @example
 *   classifyStoreError(new ReplyError("OOM command not allowed when used memory > 'maxmemory'."), "append"); // "STORE_FULL"
 *   classifyStoreError(new Error("Command timed out"), "append"); // "OUTCOME_UNKNOWN"
 *   classifyStoreError(new Error("Command timed out"), "other");   // "STORE_UNAVAILABLE"
 */

export type StoreOperation = "append" | "other";
export type StoreFailure = "STORE_FULL" | "STORE_UNAVAILABLE" | "OUTCOME_UNKNOWN";

/** Thrown by a store for a command it did not send (no connection): nothing can have happened. */
export class StoreNotReached extends Error {
	override readonly name = "StoreNotReached";
}

/** Thrown after an append that `WAIT` did not see reach enough replicas in time: stored, maybe not for good. */
export class ReplicasUnconfirmed extends Error {
	override readonly name = "ReplicasUnconfirmed";
}

/** ioredis's refusals of a command it did not write (a connection or cluster not ready, no offline queue). */
const NOT_WRITTEN = /^(Stream isn't writeable|Cluster isn't ready) and enableOfflineQueue options is false/;

/** Thrown by an in-memory store that has reached its byte bound: like Redis's OOM, nothing was stored. */
export class StoreFull extends Error {
	override readonly name = "StoreFull";
}

export function classifyStoreError(err: unknown, operation: StoreOperation): StoreFailure {
	if (err instanceof StoreFull) return "STORE_FULL";
	if (err instanceof Error && err.name === "ReplyError") {
		return /^OOM\b/.test(err.message) ? "STORE_FULL" : "STORE_UNAVAILABLE";
	}
	if (err instanceof StoreNotReached || (err instanceof Error && NOT_WRITTEN.test(err.message)) || operation === "other")
		return "STORE_UNAVAILABLE";
	return "OUTCOME_UNKNOWN";
}
