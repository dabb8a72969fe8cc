/**
 * How a test checks servers it started: from its own process (`localReach`), or, for servers on hosts
 * it cannot reach itself (network namespaces), through a process on the same network that runs these
 * very checks (test/cluster/client-host.ts, `remoteReach`).
 *
 * @example
 *   await waitFor(() => reach.mqttAnswers("mqtt://10.213.7.11:1883"), 30_000, "MQTT");
 *   await reach.redis({ host: "10.213.7.14", port: 6379 }, ["INFO", "replication"]);
 */
import net from "node:net";
import Redis from "ioredis";
import mqtt from "mqtt";
import type { RedisNode } from "../../src/redis-connection";

export interface Reach {
	/** Whether an MQTT broker at `url` answers a CONNECT (within 3 s). */
	mqttAnswers(url: string): Promise<boolean>;
	/** Whether `host:port` accepts a TCP connection. */
	tcpOpen(host: string, port: number): Promise<boolean>;
	/** One Redis command on one server (or Sentinel); rejects with Redis's error. */
	redis(node: RedisNode, args: string[]): Promise<unknown>;
}

export const localReach: Reach = {
	async mqttAnswers(url) {
		const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000 }, false).catch(() => undefined);
		await client?.endAsync(true);
		return client !== undefined;
	},
	tcpOpen(host, port) {
		return new Promise(resolve => {
			const socket = net.connect({ host, port, timeout: 2000 });
			const done = (open: boolean): void => {
				socket.destroy();
				resolve(open);
			};
			socket.once("connect", () => done(true));
			socket.once("timeout", () => done(false));
			socket.once("error", () => done(false));
		});
	},
	async redis(node, [command, ...args]) {
		const client = new Redis({
			...node,
			lazyConnect: true,
			maxRetriesPerRequest: 0,
			retryStrategy: () => null,
			commandTimeout: 2000,
		});
		client.on("error", () => undefined);
		try {
			await client.connect();
			return await client.call(command, ...args);
		} finally {
			client.disconnect();
		}
	},
};
