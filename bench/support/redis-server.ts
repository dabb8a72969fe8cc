/**
 * The bench's own redis-server on a free loopback port (no persistence, noeviction), so that the Redis
 * work of a peer is measured (its CPU counts into the peer's) and no other user of the shared Redis
 * disturbs it or sees its keys. Stopped by PID; its keys go with it.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { freePort, stopChild, waitForPort } from "./processes";

export interface OwnRedis {
	url: string;
	pid: number;
	stop(): Promise<void>;
}

/** True when a `redis-server` binary is on the PATH. */
export function haveRedisServer(): boolean {
	return spawnSync("redis-server", ["--version"]).status === 0;
}

/**
 * Starts a private redis-server.
 *
 * @example const redis = await startRedis(); … await redis.stop();
 */
export async function startRedis(): Promise<OwnRedis> {
	const port = await freePort();
	const child: ChildProcess = spawn(
		"redis-server",
		[
			"--port",
			String(port),
			"--bind",
			"127.0.0.1",
			"--save",
			"",
			"--appendonly",
			"no",
			"--maxmemory",
			"1gb",
			"--maxmemory-policy",
			"noeviction",
		],
		{ stdio: "ignore" },
	);
	await waitForPort(port, child);
	if (child.pid === undefined) throw new Error("redis-server has no pid");
	return { url: `redis://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
}
