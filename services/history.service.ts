/**
 * history — recent messages per channel, numbered with a contiguous seq.
 * Redis when it is configured (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES); otherwise an in-memory store that only this process can see.
 *
 * @example
 *   broker.createService(createHistoryService(config));
 *   await ctx.call("history.append", draft);                                 // → { message, created }
 *   await ctx.call("history.range", { channel, after: 41, limit: 50 });      // → { channel, epoch, messages, oldestSeq, lastSeq }
 *   await ctx.call("history.interest", { channels: [channel], listener: bus.id }); // → { ok: true }: others' appends are published
 *   await ctx.call("history.ping");                                          // → { ok, store, memory?: { usedBytes, maxBytes } }
 */
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { HEADS_BATCH_MAX, HISTORY_PAGE_MAX } from "../src/contract";
import { createHistoryStore, GuardedHistory, type HistoryConfig, type StoreFailureReport } from "../src/guarded-history";
import { parseChannel, type MessageDraft } from "../src/message";
import { METRIC, registerChatMetrics } from "../src/metrics";
import type { RedisTarget } from "../src/redis-connection";

export interface HistorySettings extends ServiceSettingSchema {
	redis?: RedisTarget;
}

interface HistoryVars {
	history: GuardedHistory;
}

/**
 * `shared`: this node's store when other services of the node use it in-process too (services/index.ts);
 * without it the service makes its own.
 */
export function createHistoryService(
	config: HistoryConfig,
	shared?: GuardedHistory,
): ServiceSchema<HistorySettings, object, HistoryVars> {
	return {
		name: "history",

		settings: {
			redis: config.redis,
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
					return this.history.append(ctx.params);
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
					const page = await this.history.guard("other", () =>
						this.history.store.range(channel, ctx.params.after ?? 0, ctx.params.limit ?? 50),
					);
					return { channel, ...page };
				},
			},

			/** `{ epoch, lastSeq }` per channel; broadcast nodes compare it with their position, to catch a lost last message or a restarted count. */
			heads: {
				visibility: "public",
				params: { channels: { type: "array", items: "string", max: HEADS_BATCH_MAX } },
				async handler(ctx: Context<{ channels: string[] }>) {
					const channels = ctx.params.channels.map(parseChannel);
					return this.history.guard("other", () => this.history.store.lastSeqs(channels));
				},
			},

			/**
			 * Marks channels as listened to (src/channel-bus.ts calls it before it reads a position, and to refresh
			 * the marks it still wants): appends to them are then published on the channel bus; others skip it.
			 */
			interest: {
				visibility: "public",
				params: {
					channels: { type: "array", items: "string", max: HEADS_BATCH_MAX },
					listener: { type: "string", min: 1, max: 64, optional: true },
				},
				async handler(ctx: Context<{ channels: string[]; listener?: string }>) {
					await this.history.markInterest(ctx.params.channels.map(parseChannel), ctx.params.listener);
					return { ok: true };
				},
			},

			purge: {
				visibility: "public",
				params: { channel: "string" },
				async handler(ctx: Context<{ channel: string }>) {
					const channel = parseChannel(ctx.params.channel);
					return { channel, purged: await this.history.guard("other", () => this.history.store.purge(channel)) };
				},
			},

			ping: {
				visibility: "public",
				async handler() {
					const memory = await this.history.guard("other", () => this.history.store.ping());
					return { ok: true, store: this.settings.redis ? "redis" : "memory", memory };
				},
			},
		},

		created() {
			registerChatMetrics(this.broker.metrics, [METRIC.HISTORY_ERRORS]);
			this.history = shared ?? new GuardedHistory(createHistoryStore(config), historyFailureReport(this.broker));
			if (!config.redis)
				this.logger.warn(
					"No Redis configured (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES): history is in memory, for this single process only (development).",
				);
		},

		async started() {
			try {
				await this.history.store.ping();
			} catch (err) {
				this.logger.error("History store does not answer yet; publishes get 503 until it does:", (err as Error).message);
			}
		},

		async stopped() {
			await this.history.store.close();
		},
	};
}

/** How a history store failure is reported: counted (chatcast_history_errors_total) and logged with the driver's text. */
export function historyFailureReport(broker: ServiceBroker): StoreFailureReport {
	const logger = broker.getLogger("history");
	return (operation, type, err) => {
		broker.metrics.increment(METRIC.HISTORY_ERRORS);
		logger.warn(`History store failed (${operation} → ${type}):`, err instanceof Error ? err.message : String(err));
	};
}
