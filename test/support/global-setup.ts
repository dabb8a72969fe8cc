/**
 * Before any test: the Redis server and the MQTT broker the integration tests use must answer.
 * If one does not, stop at once with a message that names it and says how to start it.
 */
import Redis from "ioredis";
import mqtt from "mqtt";
import { MQTT_URL, REDIS_URL } from "./node-process";

async function checkRedis(url: string): Promise<void> {
	const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
	redis.on("error", () => undefined);
	try {
		await redis.connect();
		await redis.ping();
	} finally {
		// Not after a refused connection (status "end"): ioredis would then arm a 2 s timer that nothing clears.
		if (redis.status !== "end") redis.disconnect();
	}
}

async function checkMqtt(url: string): Promise<void> {
	const client = mqtt.connect(url, { connectTimeout: 2000, reconnectPeriod: 0 });
	try {
		await new Promise((resolve, reject) => {
			client.once("connect", resolve);
			client.once("error", reject);
			client.once("close", () => reject(new Error("connection refused or closed")));
		});
	} finally {
		client.end(true);
	}
}

/** One line per service that does not answer, naming it and how to start it; empty when all answer. */
export async function missingServices(redisUrl: string, mqttUrl: string): Promise<string[]> {
	const problems: string[] = [];
	await checkRedis(redisUrl).catch((err: Error) =>
		problems.push(
			`Redis does not answer at REDIS_URL=${redisUrl} (${err.message || err.name}).\n    Start one: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`,
		),
	);
	await checkMqtt(mqttUrl).catch((err: Error) =>
		problems.push(
			`The MQTT broker does not answer at MQTT_URL=${mqttUrl} (${err.message || err.name}).\n    Start one: mosquitto -d -c /etc/mosquitto/mosquitto.conf`,
		),
	);
	return problems;
}

export default async function globalSetup(): Promise<void> {
	const problems = await missingServices(REDIS_URL, MQTT_URL);
	if (problems.length > 0) throw new Error(`Chatcast's tests need real services:\n  - ${problems.join("\n  - ")}\n`);
}
