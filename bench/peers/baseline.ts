/** The minimal node:http store-and-publish baseline (bench/baseline/server.ts) on Redis. */
import { spawn } from "node:child_process";
import path from "node:path";
import { readyLine, stopChild } from "../support/processes";
import type { Peer } from "./peer";

const SERVER = path.resolve(__dirname, "../baseline/server.js");

export const baseline: Peer = {
	name: "Node baseline",
	missing: () => undefined,
	async start(redisUrl) {
		const child = spawn(process.execPath, [SERVER], {
			env: { PATH: process.env.PATH, PORT: "0", REDIS_URL: redisUrl, KEY_PREFIX: "bench-baseline" },
			stdio: ["ignore", "pipe", "inherit"],
		});
		const { port } = await readyLine<{ port: number }>(child, "BASELINE_READY");
		if (child.pid === undefined) throw new Error("baseline has no pid");
		return { port, pids: [child.pid], stop: () => stopChild(child) };
	},
};
