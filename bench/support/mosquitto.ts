/**
 * The bench's own Mosquitto on a free loopback port, configured as production runs it for Chatcast
 * (`set_tcp_nodelay true`), plus `sys_interval 1` so that its `$SYS` counters (messages and bytes sent and
 * received) can be read per second. No persistence; anonymous on loopback only. Stopped by PID.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { freePort, stopChild, waitForPort } from "./processes";

export const MOSQUITTO = "/usr/sbin/mosquitto";

export interface OwnMosquitto {
	url: string;
	pid: number;
	stop(): Promise<void>;
}

/** Why the bench's Mosquitto cannot run, or undefined. */
export function mosquittoMissing(): string | undefined {
	return spawnSync(MOSQUITTO, ["-h"]).error ? `no ${MOSQUITTO} (Debian: mosquitto)` : undefined;
}

/**
 * Starts a private Mosquitto.
 *
 * @example const broker = await startMosquitto(); … await broker.stop();
 */
export async function startMosquitto(): Promise<OwnMosquitto> {
	const port = await freePort();
	const dir = mkdtempSync(path.join(os.tmpdir(), "bench-mosquitto-"));
	const conf = path.join(dir, "mosquitto.conf");
	writeFileSync(
		conf,
		[
			`listener ${port} 127.0.0.1`,
			"allow_anonymous true",
			"set_tcp_nodelay true",
			"sys_interval 1",
			"persistence false",
			"",
		].join("\n"),
	);
	const child: ChildProcess = spawn(MOSQUITTO, ["-c", conf], { stdio: "ignore" });
	try {
		await waitForPort(port, child);
	} catch (err) {
		await stopChild(child);
		throw err;
	}
	if (child.pid === undefined) throw new Error("mosquitto has no pid");
	return {
		url: `mqtt://127.0.0.1:${port}`,
		pid: child.pid,
		stop: async () => {
			await stopChild(child);
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

export interface BrokerCounters {
	messagesSent: number;
	messagesReceived: number;
	bytesSent: number;
	bytesReceived: number;
}

const TOPICS: Record<string, keyof BrokerCounters> = {
	"$SYS/broker/messages/sent": "messagesSent",
	"$SYS/broker/messages/received": "messagesReceived",
	"$SYS/broker/bytes/sent": "bytesSent",
	"$SYS/broker/bytes/received": "bytesReceived",
};

/**
 * The broker's counters as its `$SYS` tree last published them (retained, updated every second).
 *
 * @example const before = await brokerCounters(broker.url);
 */
export async function brokerCounters(url: string): Promise<BrokerCounters> {
	const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
	try {
		const values: Partial<BrokerCounters> = {};
		const complete = new Promise<BrokerCounters>((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error("no $SYS counters from the broker in 5 s")), 5000);
			client.on("message", (topic, payload) => {
				const key = TOPICS[topic];
				if (key) values[key] = Number(payload.toString());
				const { messagesSent, messagesReceived, bytesSent, bytesReceived } = values;
				if (messagesSent === undefined || messagesReceived === undefined || bytesSent === undefined) return;
				if (bytesReceived === undefined) return;
				clearTimeout(timer);
				resolve({ messagesSent, messagesReceived, bytesSent, bytesReceived });
			});
		});
		await client.subscribeAsync(Object.keys(TOPICS));
		return await complete;
	} finally {
		await client.endAsync();
	}
}
