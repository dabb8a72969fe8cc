import { configProblems } from "../support/config-problems";
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
		expect(config.redis).toBeUndefined();
		expect(config).toMatchObject({ redisMinReplicas: 0, redisWaitTimeoutMs: 1000 });
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
			redis: { kind: "server", url: "redis://r:6379" },
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

	test("REDIS_SENTINELS with REDIS_SENTINEL_NAME is a Sentinel target; credentials and TLS apply to every node", () => {
		const config = loadConfig({
			REDIS_SENTINELS: "10.0.0.1:26379, sentinel-2.example:26380,[::1]:26381",
			REDIS_SENTINEL_NAME: "mymaster",
			REDIS_SENTINEL_PASSWORD: "sentinel secret",
			REDIS_USERNAME: "chatcast",
			REDIS_PASSWORD: " pass word ",
			REDIS_TLS: "true",
			REDIS_MIN_REPLICAS: "1",
			REDIS_WAIT_TIMEOUT_MS: "250",
		});
		expect(config.redis).toEqual({
			kind: "sentinel",
			sentinels: [
				{ host: "10.0.0.1", port: 26379 },
				{ host: "sentinel-2.example", port: 26380 },
				{ host: "::1", port: 26381 },
			],
			name: "mymaster",
			sentinelPassword: "sentinel secret",
			username: "chatcast",
			password: " pass word ",
			tls: true,
		});
		expect(config).toMatchObject({ redisMinReplicas: 1, redisWaitTimeoutMs: 250 });
	});

	test("REDIS_CLUSTER_NODES is a Cluster target", () => {
		expect(loadConfig({ REDIS_CLUSTER_NODES: "127.0.0.1:7000,127.0.0.1:7001" }).redis).toEqual({
			kind: "cluster",
			nodes: [
				{ host: "127.0.0.1", port: 7000 },
				{ host: "127.0.0.1", port: 7001 },
			],
			username: undefined,
			password: undefined,
			tls: false,
		});
	});

	test("exactly one way to Redis, each with what it needs", () => {
		const problems = configProblems;
		expect(problems({ REDIS_URL: "redis://r:6379", REDIS_CLUSTER_NODES: "r:7000" })).toContain(
			"Set one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES (got REDIS_URL, REDIS_CLUSTER_NODES)",
		);
		expect(problems({ REDIS_SENTINELS: "s:26379", REDIS_CLUSTER_NODES: "r:7000", REDIS_SENTINEL_NAME: "m" })).toContain(
			"Set one of",
		);
		expect(problems({ REDIS_SENTINELS: "s:26379" })).toContain("REDIS_SENTINEL_NAME must name the master");
		expect(problems({ REDIS_CLUSTER_NODES: "r:7000", REDIS_SENTINEL_NAME: "m" })).toContain("apply to REDIS_SENTINELS only");
		expect(problems({ REDIS_URL: "redis://r:6379", REDIS_PASSWORD: "p" })).toContain("REDIS_PASSWORD apply to REDIS_SENTINELS");
		expect(problems({ REDIS_CLUSTER_NODES: "r:7000,r,r:99999, :1" })).toMatch(/got "r"\)[\s\S]*got "r:99999"[\s\S]*got ":1"/);
		expect(problems({ REDIS_CLUSTER_NODES: "r:7000", REDIS_TLS: "yes" })).toContain("REDIS_TLS must be true or false");
		expect(problems({ REDIS_MIN_REPLICAS: "1" })).toContain("REDIS_MIN_REPLICAS needs Redis");
		expect(problems({ REDIS_URL: "redis://r:6379", REDIS_MIN_REPLICAS: "-1", REDIS_WAIT_TIMEOUT_MS: "0" })).toMatch(
			/REDIS_MIN_REPLICAS must be[\s\S]*REDIS_WAIT_TIMEOUT_MS must be/,
		);
	});

	test("MQTT_URL needs a CLUSTER_SECRET of at least 32 characters; the embedded default needs none", () => {
		expect(() => loadConfig({ MQTT_URL: "mqtt://broker:1883" })).toThrow("CLUSTER_SECRET must be set with MQTT_URL");
		expect(() => loadConfig({ MQTT_URL: "mqtt://broker:1883", CLUSTER_SECRET: "short" })).toThrow("at least 32 characters");
		expect(() => loadConfig({ CLUSTER_SECRET_PREVIOUS: "short" })).toThrow("CLUSTER_SECRET_PREVIOUS must be at least");
		expect(loadConfig({}).clusterSecret).toBeUndefined();
	});
});
