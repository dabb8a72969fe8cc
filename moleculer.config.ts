/**
 * Moleculer broker options — the single place Chatcast's runtime is configured.
 * Everything comes from environment variables (see .env.example and the README's table);
 * `src/config.ts` parses and checks them.
 */
import { randomBytes } from "node:crypto";
import { type BrokerOptions, type ServiceBroker, Validators } from "moleculer";
import { MqttChannelBus, type MqttChannelBusOptions } from "./src/channel-bus";
import type { ChatcastConfig } from "./src/config";
import { MESSAGE_EVENT_PARAMS } from "./src/contract";
import type { ChatMessage } from "./src/message";
import { SHARED_PORT_PROMETHEUS } from "./src/metrics-reporter";
import { mqttClientOptions } from "./src/mqtt-brokers";
import { SealedMqttTransporter } from "./src/sealed-mqtt-transporter";

/**
 * The brokers a node's MQTT clients connect to (MQTT_URL's list, in order: `mqttClientOptions(urls)` in
 * src/mqtt-brokers.ts gives the mqtt.js options), and the secrets that seal its packets (the first one signs).
 */
export interface BusOptions {
	urls: string[];
	secrets: string[];
}

/** Moleculer's metrics that describe the host rather than Chatcast: off the endpoint unless METRICS_DETAILED=true. */
const HOST_DETAIL_METRICS = ["os.hostname", "os.user.**", "os.network.**", "process.arguments"];

/**
 * Builds the broker options for one node; `bus` is MQTT_URL with CLUSTER_SECRET, or the embedded
 * broker's URL with the secret its launcher made (undefined: no transporter, one process).
 *
 * @example
 *   new ServiceBroker(createBrokerOptions(config, { urls: config.mqttUrls, secrets: clusterSecrets(config) }));
 */
export function createBrokerOptions(config: ChatcastConfig, bus: BusOptions | undefined): BrokerOptions {
	return {
		// Several deployments may share one MQTT broker: the namespace keeps their topics apart.
		namespace: config.namespace,
		// Not Moleculer's <hostname>-<pid>: node ids reach clients (health, channel summary) and metrics labels.
		nodeID: config.nodeID ?? randomNodeID(config.namespace),

		// JSON lines (pino) in production, short readable lines in development.
		logger:
			config.logFormat === "json"
				? { type: "Pino", options: { level: config.logLevel } }
				: {
						type: "Console",
						options: { level: config.logLevel, formatter: "short", colors: process.stdout.isTTY, moduleColors: false },
					},
		logLevel: config.logLevel,

		// Moleculer's built-in metrics plus Chatcast's (src/metrics.ts), scraped at http://<host>:<metricsPort>/metrics.
		// The port may be shared for a moment during a pm2 reload (see src/metrics-reporter.ts).
		metrics:
			config.metricsPort === undefined
				? { enabled: false }
				: {
						enabled: true,
						reporter: {
							type: SHARED_PORT_PROMETHEUS,
							options: {
								port: config.metricsPort,
								host: config.metricsHost,
								path: "/metrics",
								excludes: config.metricsDetailed ? undefined : HOST_DETAIL_METRICS,
							},
						},
					},

		// The MQTT transporter: QoS 0 like every Moleculer transporter; lost packets are repaired from history.
		// Every packet is sealed with the cluster's secret; what does not verify is dropped unread.
		transporter: bus ? mqttTransporter(bus, config.mqttTopicSeparator) : null,

		// A call to history or ingest that gets no answer in 5 s fails (503 to the client); no automatic
		// retry: a publish is retried by its client, with the same clientMsgId.
		requestTimeout: 5_000,
		retryPolicy: { enabled: false },

		registry: { strategy: "RoundRobin", preferLocal: true },
		// A node that stops answering heartbeats is dropped from the registry (and from presence counts).
		heartbeatInterval: 5,
		heartbeatTimeout: 15,

		validator: true,
		// Signals are handled by src/bin/start.ts, which also stops the embedded broker.
		skipProcessEventRegistration: true,
	};
}

/** A node id that says nothing about the host: `<namespace>-<8 hex digits>`. */
export function randomNodeID(prefix: string): string {
	return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** The secrets of a node configured with MQTT_URL: CLUSTER_SECRET signs, CLUSTER_SECRET_PREVIOUS still verifies. */
export function clusterSecrets(config: Pick<ChatcastConfig, "clusterSecret" | "clusterSecretPrevious">): string[] {
	return [config.clusterSecret, config.clusterSecretPrevious].filter((secret): secret is string => secret !== undefined);
}

/**
 * Moleculer's MQTT transporter, sealed, for the bus's brokers (mqtt://user:pass@host:1883, mqtts://…, one or
 * several), with the topic separator (a URL cannot carry it, so the URLs become mqtt.js client options).
 */
export function mqttTransporter(bus: BusOptions, topicSeparator: string): SealedMqttTransporter {
	return new SealedMqttTransporter({ ...mqttClientOptions(bus.urls), topicSeparator }, { secrets: bus.secrets });
}

/**
 * The channel bus of a node on `bus` (the transporter's broker, user and secrets): per-channel topics
 * under the namespace, payloads checked against MESSAGE_EVENT_PARAMS before any listener sees them.
 *
 * @example
 *   const channelBus = createChannelBus(config, bus, broker.logger, markVia(broker));
 *   await channelBus.start();
 *   createServices(broker, config, channelBus);
 */
export function createChannelBus(
	config: Pick<ChatcastConfig, "namespace">,
	bus: BusOptions,
	logger: { warn(line: string): void },
	markInterest: MqttChannelBusOptions["markInterest"],
): MqttChannelBus {
	return new MqttChannelBus({
		urls: bus.urls,
		secrets: bus.secrets,
		namespace: config.namespace,
		accept: messageCheck(),
		markInterest,
		warn: line => logger.warn(line),
	});
}

/**
 * How a node's channel bus marks the channels it joins: `history.interest` (the node's own history
 * service when it runs one, else any: they share the store).
 *
 * @example
 *   createChannelBus(config, bus, broker.logger, markVia(broker));
 */
export function markVia(broker: Pick<ServiceBroker, "call">): MqttChannelBusOptions["markInterest"] {
	return (channels, listener) => broker.call("history.interest", { channels, listener });
}

/** The schema check of a message from the bus (fastest-validator, as Moleculer checks event params). */
export function messageCheck(): (payload: unknown) => payload is ChatMessage {
	const check = new Validators.Fastest().compile(MESSAGE_EVENT_PARAMS);
	return (payload: unknown): payload is ChatMessage => isRecord(payload) && check(payload) === true;
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}
