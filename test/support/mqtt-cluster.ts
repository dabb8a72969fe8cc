/**
 * A clustered MQTT broker of a test's own (test/support/nats-cluster.ts, rabbitmq-cluster.ts): what a node
 * of it offers, and whether the nodes share subscriptions yet. A broker's nodes may each answer CONNECT
 * long before they have joined one another (RabbitMQ forms its cluster after the ports open), so "formed"
 * means a packet published on one node reaches a subscriber on the next, for every node.
 *
 * @example await waitForMqttCluster(cluster.mqttUrls, 60_000);
 */
import mqtt from "mqtt";

/** One node of a clustered broker, which a test kills and starts again. */
export interface BrokerNode {
	name: string;
	mqttPort: number;
	mqttUrl: string;
	/** The PID of the running node's root process (undefined before the first start). */
	readonly pid: number | undefined;
	readonly running: boolean;
	/** SIGKILL, and wait for the exit. */
	kill(): Promise<void>;
	/** Starts it again (same ports, same store) and waits until its MQTT port accepts connections. */
	start(): Promise<void>;
	output(): string;
}

/** Resolves true once a packet published through `url` comes back through `echoUrl` (within 1 s). */
async function answersAcross(url: string, echoUrl: string): Promise<boolean> {
	const options = { reconnectPeriod: 0, connectTimeout: 3000 };
	const [sub, pub] = await Promise.all([
		mqtt.connectAsync(echoUrl, options, false).catch(() => undefined),
		mqtt.connectAsync(url, options, false).catch(() => undefined),
	]);
	try {
		if (!sub || !pub) return false;
		const topic = `cluster/formed/${Math.random().toString(16).slice(2)}`;
		await sub.subscribeAsync(topic);
		const got = new Promise<boolean>(resolve => {
			sub.on("message", () => resolve(true));
			setTimeout(() => resolve(false), 1000);
		});
		await pub.publishAsync(topic, "formed");
		return await got;
	} finally {
		await Promise.all([sub?.endAsync(true), pub?.endAsync(true)]);
	}
}

/** Waits until every node passes a packet to the next one; rejects naming the pair that does not. */
export async function waitForMqttCluster(urls: readonly string[], timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (let i = 0; i < urls.length; i++) {
		const next = urls[(i + 1) % urls.length];
		while (!(await answersAcross(urls[i], next))) {
			if (Date.now() > deadline) throw new Error(`${urls[i]} → ${next}: no packet across the cluster in ${timeoutMs} ms`);
			await new Promise(r => setTimeout(r, 250));
		}
	}
}
