import { loadConfig } from "../../src/config";
import { CONNECT_TIMEOUT_MS, mqttClientOptions, parseBrokerList, RECONNECT_PERIOD_MS } from "../../src/mqtt-brokers";

const SECRET = { CLUSTER_SECRET: "s".repeat(32) };

describe("MQTT_URL as a list of brokers", () => {
	test("one URL or several, spaces and empty entries ignored, order kept", () => {
		expect(loadConfig({ ...SECRET, MQTT_URL: "mqtt://a:1883" }).mqttUrls).toEqual(["mqtt://a:1883"]);
		expect(loadConfig({ ...SECRET, MQTT_URL: " mqtt://a:1883 , mqtts://b:8883,, mqtt://c" }).mqttUrls).toEqual([
			"mqtt://a:1883",
			"mqtts://b:8883",
			"mqtt://c",
		]);
	});

	test("a bad entry is a ConfigError naming it", () => {
		expect(() => loadConfig({ ...SECRET, MQTT_URL: "mqtt://a:1883,b:1883" })).toThrow('(got "b:1883")');
		expect(() => loadConfig({ ...SECRET, MQTT_URL: "mqtt://a:1883,http://b" })).toThrow('(got "http://b")');
		expect(() => loadConfig({ ...SECRET, MQTT_URL: " , " })).toThrow("at least one broker");
	});

	test("the same login on every broker (one is sent to whichever answers)", () => {
		expect(parseBrokerList("mqtt://u:p@a,mqtt://u:p@b").problems).toEqual([]);
		expect(parseBrokerList("mqtt://u:p@a,mqtt://u:q@b").problems).toEqual([
			"MQTT_URL: every broker of the list must have the same user:pass (or none)",
		]);
		expect(parseBrokerList("mqtt://u:p@a,mqtt://b").problems).toHaveLength(1);
	});

	test("mqtt.js options: every broker a server, in order, with default ports, and the decoded login", () => {
		expect(mqttClientOptions(["mqtt://us%40r:p%3Ass@a:1884", "mqtts://us%40r:p%3Ass@b", "mqtt://us%40r:p%3Ass@c"])).toEqual({
			host: "a",
			port: 1884,
			protocol: "mqtt",
			servers: [
				{ host: "a", port: 1884, protocol: "mqtt" },
				{ host: "b", port: 8883, protocol: "mqtts" },
				{ host: "c", port: 1883, protocol: "mqtt" },
			],
			username: "us@r",
			password: "p:ss",
			connectTimeout: CONNECT_TIMEOUT_MS,
			reconnectPeriod: RECONNECT_PERIOD_MS,
		});
		expect(mqttClientOptions(["mqtt://a"])).not.toHaveProperty("username");
	});
});
