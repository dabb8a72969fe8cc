/**
 * Creates the services a node runs (`SERVICES`) from its parsed configuration.
 *
 * A node that runs history shares its store with its other services: ingest appends to it in-process,
 * and when the node runs ingest too, the gateway's lean publish route (src/publish-route.ts) publishes
 * without a Moleculer call.
 *
 * @example
 *   const config = loadConfigOrExit(process.env);
 *   const broker = new ServiceBroker(createBrokerOptions(config, url));
 *   createServices(broker, config, channelBus);   // without a bus: one process, messages delivered in-process
 */
import type { Service, ServiceBroker } from "moleculer";
import { type ChannelBus, LocalChannelBus } from "../src/channel-bus";
import type { ChatcastConfig, ServiceName } from "../src/config";
import { createHistoryStore, GuardedHistory } from "../src/guarded-history";
import type { MessageDraft } from "../src/message";
import { type Publish, publishMessage } from "../src/publish";
import { createApiService } from "./api.service";
import { createBroadcastService } from "./broadcast.service";
import { createHistoryService, historyFailureReport } from "./history.service";
import { createIngestService, publishDeps } from "./ingest.service";

export { createApiService, createBroadcastService, createHistoryService, createIngestService };

export function createServices(
	broker: ServiceBroker,
	config: ChatcastConfig,
	bus: ChannelBus = new LocalChannelBus(),
): Service[] {
	const runs = (name: ServiceName): boolean => config.services.includes(name);
	const history = runs("history") ? new GuardedHistory(createHistoryStore(config), historyFailureReport(broker)) : undefined;
	let publish: Publish | undefined;
	if (history && runs("ingest")) {
		const deps = publishDeps(config, bus, broker);
		// The node's own mark does not make its appends published: its streams get them in-process.
		const append = (draft: MessageDraft) => history.append(draft, bus.id);
		publish = (input, user) => publishMessage(input, user, append, deps);
	}
	const create: Record<ServiceName, () => Service> = {
		api: () => broker.createService(createApiService(config, publish)),
		ingest: () => broker.createService(createIngestService(config, bus, publish)),
		history: () => broker.createService(createHistoryService(config, history)),
		broadcast: () => broker.createService(createBroadcastService(config, bus)),
	};
	return config.services.map(name => create[name]());
}
