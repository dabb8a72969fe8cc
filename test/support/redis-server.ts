/**
 * A redis-server of the test's own (not the shared one): for tests that fill it, stop it or limit its memory.
 * No persistence; stopped by its PID.
 *
 * @example
 *   const server = await startRedisServer(["--maxmemory-policy", "noeviction"]);
 *   const store = new RedisHistory(server.url, …);
 *   await server.stop();
 */
import { spawn } from "node:child_process";
import Redis from "ioredis";
import { freePort, waitFor } from "./node-process";

export interface OwnRedis {
	url: string;
	pid: number;
	/** A client of the test's, for INFO, CONFIG and inspecting keys. */
	client: Redis;
	/** Pauses (SIGSTOP) or resumes (SIGCONT) the server: a Redis that hangs. */
	signal(signal: "SIGSTOP" | "SIGCONT"): void;
	stop(): Promise<void>;
}

export async function startRedisServer(args: string[] = []): Promise<OwnRedis> {
	const port = await freePort();
	const child = spawn(
		"redis-server",
		["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args],
		{
			stdio: "ignore",
		},
	);
	const exited = new Promise<void>(resolve => child.once("exit", () => resolve()));
	const pid = child.pid ?? -1;
	const url = `redis://127.0.0.1:${port}`;
	const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => 100 });
	client.on("error", () => undefined);
	await waitFor(async () => (await client.ping()) === "PONG", 10_000, `redis-server on ${port}`);
	return {
		url,
		pid,
		client,
		signal: signal => process.kill(pid, signal),
		async stop() {
			client.disconnect();
			if (child.exitCode === null && child.signalCode === null) {
				process.kill(pid, "SIGCONT");
				process.kill(pid, "SIGKILL");
			}
			await exited;
		},
	};
}
