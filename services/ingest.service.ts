/**
 * ingest — accepts a message: validates it, has history store and number it, then fans it out over the
 * channel bus (src/channel-bus.ts) to the nodes subscribed to its channel.
 * A message is accepted (2xx) only once stored; nothing is broadcast that is not stored.
 *
 * @example
 *   broker.createService(createIngestService(config, channelBus));
 *   await ctx.call("ingest.publish", { channel, text: "hello", author: "ada", clientMsgId: "c-1" });
 *   // → the stored message; ctx.meta.$statusCode is 201, or 200 for a repeated clientMsgId
 */
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { ChatcastConfig } from "../src/config";
import type { ChannelBus } from "../src/channel-bus";
import type { StreamUser } from "../src/contract";
import { publishFailure } from "../src/errors";
import type { AppendResult } from "../src/history-store";
import { type ChatMessage, createDraft, type PublishInput } from "../src/message";
import { METRIC, registerChatMetrics } from "../src/metrics";

export interface IngestSettings extends ServiceSettingSchema {
	maxMessageBytes: number;
}

/** What the gateway sets on a publish answer. */
interface PublishMeta {
	$statusCode?: number;
	$location?: string;
	/** The authenticated publisher, set by the api gateway from the token (never from the body). */
	user?: StreamUser;
}

export function createIngestService(
	config: Pick<ChatcastConfig, "maxMessageBytes">,
	bus: ChannelBus,
): ServiceSchema<IngestSettings> {
	return {
		name: "ingest",

		settings: {
			maxMessageBytes: config.maxMessageBytes,
		},

		actions: {
			publish: {
				params: {
					channel: "string",
					// Checked by createDraft, so a missing text is EMPTY_MESSAGE like an empty one.
					text: "any|optional",
					author: "any|optional",
					clientMsgId: "any|optional",
				},
				async handler(ctx: Context<PublishInput, PublishMeta>): Promise<ChatMessage> {
					const draft = createDraft(ctx.params, this.settings, new Date(), ctx.meta.user);
					let result: AppendResult;
					try {
						result = await ctx.call<AppendResult, typeof draft>("history.append", draft);
					} catch (err) {
						this.logger.warn("history.append failed:", (err as Error).message);
						throw publishFailure(err);
					}
					// To the nodes with subscribers of the channel. A repeat is sent again too: broadcast nodes drop seqs
					// they have, and it heals a lost packet. The message is stored, so a failed fan-out is not the
					// client's failure: nodes repair from history.
					bus.publish(result.message);
					ctx.meta.$statusCode = result.created ? 201 : 200;
					// Where the message can be read back: the history page that holds exactly it.
					const { channel, seq } = result.message;
					ctx.meta.$location = `/api/channels/${channel}/messages?after=${seq - 1}&limit=1`;
					if (result.created) this.broker.metrics.increment(METRIC.PUBLISHED);
					return result.message;
				},
			},
		},

		created() {
			registerChatMetrics(this.broker.metrics, [METRIC.PUBLISHED]);
		},
	};
}
