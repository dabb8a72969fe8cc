/** The minimal node:http SSE fan-out, resume and store-and-publish baseline (bench/baseline/server.ts) on Redis. */
import { spawn } from "node:child_process";
import path from "node:path";
import { readyLine, stopChild, withFileLimit } from "../support/processes";
import type { Peer } from "./peer";

const SERVER = path.resolve(__dirname, "../baseline/server.js");

export const baseline: Peer = {
	id: "baseline",
	name: "Node baseline",
	family: "baseline",
	store: "redis",
	missing: () => undefined,
	async start(redisUrl) {
		const [command, args] = withFileLimit(process.execPath, [SERVER]);
		const child = spawn(command, args, {
			env: { PATH: process.env.PATH, PORT: "0", REDIS_URL: redisUrl, KEY_PREFIX: "bench-baseline" },
			stdio: ["ignore", "pipe", "inherit"],
		});
		const { port } = await readyLine<{ port: number }>(child, "BASELINE_READY");
		if (child.pid === undefined) throw new Error("baseline has no pid");
		return { port, pids: [child.pid], stop: () => stopChild(child) };
	},
};
