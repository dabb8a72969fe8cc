/**
 * Creates the services a node runs (`SERVICES`) from its parsed configuration.
 *
 * @example
 *   const config = loadConfigOrExit(process.env);
 *   const broker = new ServiceBroker(createBrokerOptions(config, url));
 *   createServices(broker, config, channelBus);   // without a bus: one process, messages delivered in-process
 */
import type { Service, ServiceBroker } from "moleculer";
import { type ChannelBus, LocalChannelBus } from "../src/channel-bus";
import type { ChatcastConfig, ServiceName } from "../src/config";
import { createApiService } from "./api.service";
import { createBroadcastService } from "./broadcast.service";
import { createHistoryService } from "./history.service";
import { createIngestService } from "./ingest.service";

export { createApiService, createBroadcastService, createHistoryService, createIngestService };

export function createServices(
	broker: ServiceBroker,
	config: ChatcastConfig,
	bus: ChannelBus = new LocalChannelBus(),
): Service[] {
	const create: Record<ServiceName, () => Service> = {
		api: () => broker.createService(createApiService(config)),
		ingest: () => broker.createService(createIngestService(config, bus)),
		history: () => broker.createService(createHistoryService(config)),
		broadcast: () => broker.createService(createBroadcastService(config, bus)),
	};
	return config.services.map(name => create[name]());
}
