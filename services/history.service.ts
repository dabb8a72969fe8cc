/**
 * history — recent messages per channel, numbered with a contiguous seq.
 * Redis when it is configured (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES); otherwise an in-memory store that only this process can see.
 *
 * @example
 *   broker.createService(createHistoryService(config));
 *   await ctx.call("history.append", draft);                                 // → { message, created }
 *   await ctx.call("history.range", { channel, after: 41, limit: 50 });      // → { channel, epoch, messages, oldestSeq, lastSeq }
 *   await ctx.call("history.ping");                                          // → { ok, store, memory?: { usedBytes, maxBytes } }
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { ChatcastConfig } from "../src/config";
import { HEADS_BATCH_MAX, HISTORY_PAGE_MAX } from "../src/contract";
import { chatError } from "../src/errors";
import { IDEMPOTENCY_SECONDS, type HistoryStore, type HistoryStoreOptions } from "../src/history-store";
import { MemoryHistory } from "../src/memory-history";
import { parseChannel, type MessageDraft } from "../src/message";
import { METRIC, registerChatMetrics } from "../src/metrics";
import type { RedisTarget } from "../src/redis-connection";
import { RedisHistory } from "../src/redis-history";
import { classifyStoreError, type StoreOperation } from "../src/store-errors";

export interface HistorySettings extends ServiceSettingSchema {
	redis?: RedisTarget;
	minReplicas: number;
	waitTimeoutMs: number;
	keyPrefix: string;
	limit: number;
	ttlSeconds: number;
	pageMaxBytes: number;
}

interface HistoryMethods {
	guard<T>(operation: StoreOperation, work: () => Promise<T>): Promise<T>;
}

interface HistoryVars {
	store: HistoryStore;
}

type HistoryConfig = Pick<
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

export function createHistoryService(config: HistoryConfig): ServiceSchema<HistorySettings, HistoryMethods, HistoryVars> {
	return {
		name: "history",

		settings: {
			redis: config.redis,
			minReplicas: config.redisMinReplicas,
			waitTimeoutMs: config.redisWaitTimeoutMs,
			keyPrefix: `${config.namespace}:`,
			limit: config.historyLimit,
			ttlSeconds: config.historyTtlSeconds,
			pageMaxBytes: config.historyPageMaxBytes,
			$secureSettings: ["redis"],
		},

		actions: {
			append: {
				visibility: "public",
				params: {
					id: "string",
					channel: "string",
					author: "string",
					userId: { type: "string", optional: true },
					text: "string",
					sentAt: "string",
					clientMsgId: { type: "string", optional: true },
				},
				handler(ctx: Context<MessageDraft>) {
					return this.guard("append", () => this.store.append(ctx.params));
				},
			},

			range: {
				params: {
					channel: "string",
					after: { type: "number", integer: true, min: 0, optional: true, convert: true },
					limit: { type: "number", integer: true, min: 0, max: HISTORY_PAGE_MAX, optional: true, convert: true },
				},
				async handler(ctx: Context<{ channel: string; after?: number; limit?: number }>) {
					const channel = parseChannel(ctx.params.channel);
					const page = await this.guard("other", () => this.store.range(channel, ctx.params.after ?? 0, ctx.params.limit ?? 50));
					return { channel, ...page };
				},
			},

			/** `{ epoch, lastSeq }` per channel; broadcast nodes compare it with their position, to catch a lost last message or a restarted count. */
			heads: {
				visibility: "public",
				params: { channels: { type: "array", items: "string", max: HEADS_BATCH_MAX } },
				async handler(ctx: Context<{ channels: string[] }>) {
					const channels = ctx.params.channels.map(parseChannel);
					return this.guard("other", () => this.store.lastSeqs(channels));
				},
			},

			purge: {
				visibility: "public",
				params: { channel: "string" },
				async handler(ctx: Context<{ channel: string }>) {
					const channel = parseChannel(ctx.params.channel);
					return { channel, purged: await this.guard("other", () => this.store.purge(channel)) };
				},
			},

			ping: {
				visibility: "public",
				async handler() {
					const memory = await this.guard("other", () => this.store.ping());
					return { ok: true, store: this.settings.redis ? "redis" : "memory", memory };
				},
			},
		},

		methods: {
			/**
			 * Store failures become 503s that say what happened to the data (STORE_FULL, STORE_UNAVAILABLE or,
			 * for an append, OUTCOME_UNKNOWN: src/store-errors.ts); the driver's text goes to the log only.
			 */
			async guard<T>(operation: StoreOperation, work: () => Promise<T>): Promise<T> {
				try {
					return await work();
				} catch (err) {
					this.broker.metrics.increment(METRIC.HISTORY_ERRORS);
					const type = classifyStoreError(err, operation);
					this.logger.warn(`History store failed (${operation} → ${type}):`, (err as Error).message);
					throw chatError(type);
				}
			},
		},

		created() {
			registerChatMetrics(this.broker.metrics, [METRIC.HISTORY_ERRORS]);
			const options: HistoryStoreOptions = {
				limit: this.settings.limit,
				ttlSeconds: this.settings.ttlSeconds,
				idempotencySeconds: IDEMPOTENCY_SECONDS,
				pageMaxBytes: this.settings.pageMaxBytes,
			};
			if (this.settings.redis) {
				this.store = new RedisHistory(this.settings.redis, {
					...options,
					keyPrefix: this.settings.keyPrefix,
					minReplicas: this.settings.minReplicas,
					waitTimeoutMs: this.settings.waitTimeoutMs,
				});
			} else {
				this.store = new MemoryHistory({ ...options, maxBytes: config.memoryHistoryMaxBytes });
				this.logger.warn(
					"No Redis configured (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES): history is in memory, for this single process only (development).",
				);
			}
		},

		async started() {
			try {
				await this.store.ping();
			} catch (err) {
				this.logger.error("History store does not answer yet; publishes get 503 until it does:", (err as Error).message);
			}
		},

		async stopped() {
			await this.store.close();
		},
	};
}
