/**
 * MQTT_URL as a list of brokers (the nodes of a clustered broker): parsed once here, and turned into the
 * mqtt.js options every MQTT client of a node uses, so each fails over the same way. mqtt.js connects to
 * the brokers in turn: after a lost connection it tries the next one, round robin, every `reconnectPeriod`.
 *
 * @example
 *   const brokers = parseBrokerList("mqtt://a:1883,mqtt://b:1883"); // { urls: [...], problems: [] }
 *   mqtt.connect(mqttClientOptions(brokers.urls));
 */
import type { IClientOptions } from "mqtt";

const PROTOCOLS = ["mqtt:", "mqtts:"];

/**
 * How long a broker may take to answer CONNECT before the next one of the list is tried (mqtt.js waits 30 s).
 * A node of a NATS cluster holds a CONNECT while it looks the session up in JetStream (up to 4 s, longer
 * while the session stream elects a new leader): trying again every 1.5 s finds the new leader soonest
 * (measured: 4.6–4.8 s instead of 6.1 s after the leader's node died; docs/adr-clustered-broker.md).
 */
export const CONNECT_TIMEOUT_MS = 1000;
/** Pause between two connection attempts (to the next broker of the list); mqtt.js waits 1 s. */
export const RECONNECT_PERIOD_MS = 500;

/** The URLs of MQTT_URL (comma-separated), and what is wrong with them (empty when nothing is). */
export function parseBrokerList(raw: string): { urls: string[]; problems: string[] } {
	const urls = raw
		.split(",")
		.map(s => s.trim())
		.filter(Boolean);
	const problems: string[] = [];
	const parsed: URL[] = [];
	for (const text of urls) {
		const url = URL.canParse(text) ? new URL(text) : undefined;
		if (url && PROTOCOLS.includes(url.protocol) && url.hostname) parsed.push(url);
		else problems.push(`MQTT_URL must list URLs starting with mqtt:// or mqtts:// (got ${JSON.stringify(text)})`);
	}
	if (urls.length === 0) problems.push("MQTT_URL must list at least one broker");
	// mqtt.js sends one login to whichever broker it reaches: a list with two logins would fail on some brokers.
	if (new Set(parsed.map(url => `${url.username}:${url.password}`)).size > 1)
		problems.push("MQTT_URL: every broker of the list must have the same user:pass (or none)");
	return { urls, problems };
}

/**
 * mqtt.js options for a checked broker list: every broker as a `servers` entry, the login of the URLs, and
 * the failover timing (CONNECT_TIMEOUT_MS, RECONNECT_PERIOD_MS).
 *
 * @example
 *   mqttClientOptions(["mqtt://u:p@a:1883", "mqtts://u:p@b:8883"]);
 *   // { servers: [{ host: "a", port: 1883, protocol: "mqtt" }, { host: "b", port: 8883, protocol: "mqtts" }], username: "u", … }
 */
export function mqttClientOptions(urls: readonly string[]): IClientOptions {
	const parsed = urls.map(url => new URL(url));
	const [first] = parsed;
	if (!first) throw new Error("mqttClientOptions needs at least one broker URL");
	// mqtt.js takes host, port and protocol from `servers` at each (re)connect; the first broker is also the default.
	const options: IClientOptions = {
		...serverOf(first),
		servers: parsed.map(serverOf),
		connectTimeout: CONNECT_TIMEOUT_MS,
		reconnectPeriod: RECONNECT_PERIOD_MS,
	};
	if (first.username) options.username = decodeURIComponent(first.username);
	if (first.password) options.password = decodeURIComponent(first.password);
	return options;
}

function serverOf(url: URL): { host: string; port: number; protocol: "mqtt" | "mqtts" } {
	const secure = url.protocol === "mqtts:";
	return { host: url.hostname, port: url.port ? Number(url.port) : secure ? 8883 : 1883, protocol: secure ? "mqtts" : "mqtt" };
}
