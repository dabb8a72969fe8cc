/** Chatcast all-in-one (embedded MQTT broker, every service in one process) on Redis, limits off. */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { readyLine, stopChild } from "../support/processes";
import type { Peer } from "./peer";

const START = path.resolve(__dirname, "../../src/bin/start.js");

export const chatcast: Peer = {
	name: "Chatcast",
	missing: () => (existsSync(START) ? undefined : `${START} is not built (npm run build)`),
	async start(redisUrl) {
		const child = spawn(process.execPath, [START], {
			env: {
				PATH: process.env.PATH,
				NODE_ENV: "production",
				PORT: "0",
				EMBEDDED_MQTT_PORT: "0",
				REDIS_URL: redisUrl,
				NAMESPACE: `bench-compare-${randomUUID().slice(0, 8)}`,
				LOG_LEVEL: "warn",
				RATE_LIMITS: "off",
				STREAMS_PER_CLIENT: "100000",
				STREAM_CHANNELS_PER_CLIENT: "100000",
				STREAMS_PER_EDGE: "100000",
			},
			stdio: ["ignore", "pipe", "inherit"],
		});
		const { port } = await readyLine<{ port: number }>(child, "CHATCAST_READY");
		if (child.pid === undefined) throw new Error("Chatcast has no pid");
		return { port, pids: [child.pid], stop: () => stopChild(child) };
	},
};
