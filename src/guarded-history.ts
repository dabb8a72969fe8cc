/**
 * A history store whose failures are answered as the client must hear them: 503s that say what
 * happened to the data (STORE_FULL, STORE_UNAVAILABLE or, for an append, OUTCOME_UNKNOWN; see
 * src/store-errors.ts), the driver's text reported (logged) but never returned. The history service
 * serves its actions through it; a node that runs ingest and history appends through the same object
 * in-process (src/publish.ts), without a Moleculer call.
 *
 * @example
 *   const history = new GuardedHistory(createHistoryStore(config), (operation, type, err) => log.warn(…));
 *   await history.append(draft); // → { message, created }, or throws chatError("STORE_UNAVAILABLE") …
 */
import type { ChatcastConfig } from "./config";
import { chatError } from "./errors";
import { type AppendResult, type HistoryStore, type HistoryStoreOptions, IDEMPOTENCY_SECONDS } from "./history-store";
import { MemoryHistory } from "./memory-history";
import type { MessageDraft } from "./message";
import { RedisHistory } from "./redis-history";
import { classifyStoreError, type StoreFailure, type StoreOperation } from "./store-errors";

/** Told of every failed store operation, with the catalogue type the client is answered. */
export type StoreFailureReport = (operation: StoreOperation, type: StoreFailure, err: unknown) => void;

export class GuardedHistory {
	constructor(
		readonly store: HistoryStore,
		private readonly report: StoreFailureReport,
	) {}

	/** Runs a store operation; a failure becomes the catalogue error for `operation`. */
	async guard<T>(operation: StoreOperation, work: () => Promise<T>): Promise<T> {
		try {
			return await work();
		} catch (err) {
			const type = classifyStoreError(err, operation);
			this.report(operation, type, err);
			throw chatError(type);
		}
	}

	append(draft: MessageDraft, publisher?: string): Promise<AppendResult> {
		return this.guard("append", () => this.store.append(draft, publisher));
	}

	markInterest(channels: readonly string[], listener?: string): Promise<void> {
		return this.guard("other", () => this.store.markInterest(channels, listener));
	}
}

/** What a node's history store is made from. */
export type HistoryConfig = Pick<
	ChatcastConfig,
	| "redis"
	| "redisMinReplicas"
	| "redisWaitTimeoutMs"
	| "namespace"
	| "historyLimit"
	| "historyTtlSeconds"
	| "historyPageMaxBytes"
	| "memoryHistoryMaxBytes"
>;

/** The store a configuration asks for: Redis when it is configured, else in memory (this process only). */
export function createHistoryStore(config: HistoryConfig): HistoryStore {
	const options: HistoryStoreOptions = {
		limit: config.historyLimit,
		ttlSeconds: config.historyTtlSeconds,
		idempotencySeconds: IDEMPOTENCY_SECONDS,
		pageMaxBytes: config.historyPageMaxBytes,
	};
	if (!config.redis) return new MemoryHistory({ ...options, maxBytes: config.memoryHistoryMaxBytes });
	return new RedisHistory(config.redis, {
		...options,
		keyPrefix: `${config.namespace}:`,
		minReplicas: config.redisMinReplicas,
		waitTimeoutMs: config.redisWaitTimeoutMs,
	});
}
