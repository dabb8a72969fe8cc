import { loadConfig } from "../../src/config";

describe("configuration", () => {
	test("defaults need no environment", () => {
		const config = loadConfig({});
		expect(config).toMatchObject({
			port: 3000,
			host: "127.0.0.1",
			namespace: "chatcast",
			historyLimit: 1000,
			historyTtlSeconds: 86400,
			maxMessageBytes: 4096,
			sseHeartbeatMs: 15000,
			logLevel: "info",
			services: ["api", "ingest", "history", "broadcast"],
		});
		expect(config.mqttUrls).toBeUndefined();
		expect(config.redisUrl).toBeUndefined();
	});

	test("variables are read and SERVICES keeps the known order", () => {
		const config = loadConfig({
			PORT: "8080",
			MQTT_URL: "mqtt://broker:1883",
			CLUSTER_SECRET: "s".repeat(32),
			REDIS_URL: "redis://r:6379",
			SERVICES: "broadcast, api",
			HISTORY_LIMIT: "20",
		});
		expect(config).toMatchObject({
			port: 8080,
			mqttUrls: ["mqtt://broker:1883"],
			redisUrl: "redis://r:6379",
			services: ["api", "broadcast"],
			historyLimit: 20,
		});
	});

	test("every bad variable is reported at once", () => {
		const load = (): unknown =>
			loadConfig({
				PORT: "http",
				HISTORY_LIMIT: "0",
				SERVICES: "api,chat",
				LOG_LEVEL: "loud",
				NAMESPACE: "a b",
				NODE_ID: "edge+1",
				MQTT_URL: "127.0.0.1:1883",
				REDIS_URL: "http://redis",
			});
		for (const name of ["PORT", "HISTORY_LIMIT", "SERVICES", "LOG_LEVEL", "NAMESPACE", "NODE_ID", "MQTT_URL", "REDIS_URL"])
			expect(load).toThrow(name);
	});

	test("MQTT_URL needs a CLUSTER_SECRET of at least 32 characters; the embedded default needs none", () => {
		expect(() => loadConfig({ MQTT_URL: "mqtt://broker:1883" })).toThrow("CLUSTER_SECRET must be set with MQTT_URL");
		expect(() => loadConfig({ MQTT_URL: "mqtt://broker:1883", CLUSTER_SECRET: "short" })).toThrow("at least 32 characters");
		expect(() => loadConfig({ CLUSTER_SECRET_PREVIOUS: "short" })).toThrow("CLUSTER_SECRET_PREVIOUS must be at least");
		expect(loadConfig({}).clusterSecret).toBeUndefined();
	});
});
