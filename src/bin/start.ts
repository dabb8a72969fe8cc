/**
 * Starts one Chatcast node: `npm start` (after `npm run build`), or pm2 via ecosystem.config.js.
 *
 * SERVICES picks the services this node runs (default: all). Without MQTT_URL it first starts the
 * embedded MQTT broker, so a fresh machine needs no external service. When the node serves, it prints
 * `CHATCAST_READY {"nodeID":…,"port":…}` and tells pm2 "ready" (wait_ready).
 */
import { Server } from "node:http";
import { ServiceBroker } from "moleculer";
import { randomBytes } from "node:crypto";
import { type BusOptions, clusterSecrets, createBrokerOptions, createChannelBus, markVia } from "../../moleculer.config";
import { createServices } from "../../services";
import { loadConfigOrExit } from "../config";
import { type EmbeddedBroker, startEmbeddedBroker } from "../embedded-broker";

/** Longest a graceful stop may take before the process exits anyway (pm2's kill_timeout is above it). */
const STOP_TIMEOUT_MS = 8000;
/** How long a starting node waits for a history service before it reports ready anyway. */
const HISTORY_WAIT_MS = 30_000;

async function main(): Promise<void> {
	const config = loadConfigOrExit(process.env);

	let embedded: EmbeddedBroker | undefined;
	let bus: BusOptions;
	if (config.mqttUrls) {
		bus = { urls: config.mqttUrls, secrets: clusterSecrets(config) };
	} else {
		// The embedded broker admits only this launcher's credentials, and its packets are sealed with a
		// secret made here: nothing else on the machine can join or forge (README, "Security").
		embedded = await startEmbeddedBroker(config.embeddedMqttPort);
		bus = { urls: [embedded.url], secrets: [config.clusterSecret ?? randomBytes(32).toString("hex")] };
		const note =
			embedded.gotWantedPort || config.embeddedMqttPort === 0
				? ""
				: ` (port ${config.embeddedMqttPort} was taken, so a free one was chosen)`;
		console.log(
			`MQTT_URL is not set: started the embedded MQTT broker on 127.0.0.1:${embedded.port}${note}.\n` +
				`  Other nodes and the REPL join with MQTT_URL=${embedded.url} CLUSTER_SECRET=${bus.secrets[0]}`,
		);
	}

	const broker = new ServiceBroker(createBrokerOptions(config, bus));
	// Stored messages travel on per-channel topics of the same broker (src/channel-bus.ts), not as Moleculer events.
	const channelBus = createChannelBus(config, bus, broker.logger, markVia(broker));
	createServices(broker, config, channelBus);

	let stopping = false;
	const stop = (signal: string): void => {
		if (stopping) return;
		stopping = true;
		broker.logger.info(`${signal} received: stopping (streams are told to reconnect elsewhere).`);
		setTimeout(() => {
			broker.logger.error("Graceful stop took too long; exiting.");
			process.exit(1);
		}, STOP_TIMEOUT_MS).unref();
		broker
			.stop()
			.catch(err => broker.logger.error("Stop failed:", err))
			.then(() => channelBus.stop())
			.finally(() => {
				embedded?.stop();
				process.exit(0);
			});
	};
	process.on("SIGINT", () => stop("SIGINT"));
	process.on("SIGTERM", () => stop("SIGTERM"));

	try {
		await channelBus.start();
		await broker.start();
	} catch (err) {
		embedded?.stop();
		throw err;
	}

	// A node that publishes or streams serves only once it can reach history (locally or over the transporter).
	if (config.services.some(name => name !== "history")) {
		await broker
			.waitForServices(["history"], HISTORY_WAIT_MS)
			.catch(() =>
				broker.logger.warn(`No history service found within ${HISTORY_WAIT_MS / 1000}s; answering 503 until one joins.`),
			);
	}

	// Moleculer announces a new node's services about a second after start; tell the cluster now, so no
	// publisher skips this node's broadcast listener right after it reports ready.
	await broker.registry.discoverer.sendLocalNodeInfo();

	const port = gatewayPort(broker);
	const ready = { nodeID: broker.nodeID, port, services: config.services };
	console.log(`CHATCAST_READY ${JSON.stringify(ready)}`);
	if (port !== null) broker.logger.info(`Chatcast serves http://${config.host}:${port}/ (demo page, /api, SSE)`);
	process.send?.("ready");
}

/** The port the api gateway (moleculer-web keeps its server on the service) listens on; null without one. */
function gatewayPort(broker: ServiceBroker): number | null {
	const api: unknown = broker.getLocalService("api");
	const server = typeof api === "object" && api !== null && "server" in api ? api.server : undefined;
	const address = server instanceof Server ? server.address() : null;
	return typeof address === "object" && address !== null ? address.port : null;
}

main().catch(err => {
	console.error("Chatcast failed to start:", err instanceof Error ? err.message : err);
	process.exit(1);
});
