/**
 * ingest — accepts a message over Moleculer (src/publish.ts: validate, have history store and number it,
 * then fan it out over the channel bus to the nodes subscribed to its channel). A message is accepted
 * (2xx) only once stored; nothing is broadcast that is not stored. The gateway's lean publish route
 * (src/publish-route.ts) runs the same function without a Moleculer call.
 *
 * @example
 *   broker.createService(createIngestService(config, channelBus));
 *   await ctx.call("ingest.publish", { channel, text: "hello", author: "ada", clientMsgId: "c-1" });
 *   // → the stored message; ctx.meta.$statusCode is 201, or 200 for a repeated clientMsgId
 */
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { ChannelBus } from "../src/channel-bus";
import type { ChatcastConfig } from "../src/config";
import type { StreamUser } from "../src/contract";
import type { AppendResult } from "../src/history-store";
import type { ChatMessage, MessageDraft, PublishInput } from "../src/message";
import { METRIC, registerChatMetrics } from "../src/metrics";
import { type Publish, type PublishDeps, publishMessage } from "../src/publish";

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

interface IngestVars {
	deps: PublishDeps;
}

/**
 * What a publish needs besides its store, for the node's broker: the channel bus, the metric it counts,
 * the log its store failures go to.
 */
export function publishDeps(
	config: Pick<ChatcastConfig, "maxMessageBytes">,
	bus: ChannelBus,
	broker: ServiceBroker,
): PublishDeps {
	const logger = broker.getLogger("ingest");
	return {
		maxMessageBytes: config.maxMessageBytes,
		bus,
		published: () => broker.metrics.increment(METRIC.PUBLISHED),
		warn: (line, err) => logger.warn(line, err instanceof Error ? err.message : String(err)),
	};
}

/**
 * `local`: this node's in-process publish (it runs history too, services/index.ts), shared with the gateway's
 * lean route; without it a publish appends with a `history.append` call.
 */
export function createIngestService(
	config: Pick<ChatcastConfig, "maxMessageBytes">,
	bus: ChannelBus,
	local?: Publish,
): ServiceSchema<IngestSettings, object, IngestVars> {
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
					const outcome = local
						? await local(ctx.params, ctx.meta.user)
						: await publishMessage(
								ctx.params,
								ctx.meta.user,
								draft => ctx.call<AppendResult, MessageDraft>("history.append", draft),
								this.deps,
							);
					ctx.meta.$statusCode = outcome.status;
					ctx.meta.$location = outcome.location;
					return outcome.message;
				},
			},
		},

		created() {
			registerChatMetrics(this.broker.metrics, [METRIC.PUBLISHED]);
			this.deps = publishDeps(config, bus, this.broker);
		},
	};
}
