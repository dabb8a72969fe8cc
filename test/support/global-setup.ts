/**
 * Before any test: the Redis server and the MQTT broker the integration tests use must answer.
 * If one does not, stop at once with a message that names it and says how to start it.
 */
import Redis from "ioredis";
import mqtt from "mqtt";
import { MQTT_URL, REDIS_URL } from "./node-process";

async function checkRedis(): Promise<void> {
	const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
	redis.on("error", () => undefined);
	try {
		await redis.connect();
		await redis.ping();
	} finally {
		redis.disconnect();
	}
}

async function checkMqtt(): Promise<void> {
	const client = await mqtt.connectAsync(MQTT_URL, { connectTimeout: 2000, reconnectPeriod: 0 });
	await client.endAsync();
}

export default async function globalSetup(): Promise<void> {
	const problems: string[] = [];
	await checkRedis().catch((err: Error) =>
		problems.push(`Redis does not answer at REDIS_URL=${REDIS_URL} (${err.message}).\n    Start one: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`));
	await checkMqtt().catch((err: Error) =>
		problems.push(`The MQTT broker does not answer at MQTT_URL=${MQTT_URL} (${err.message}).\n    Start one: mosquitto -d -c /etc/mosquitto/mosquitto.conf`));
	if (problems.length > 0) throw new Error(`Chatcast's tests need real services:\n  - ${problems.join("\n  - ")}\n`);
}
