/**
 * What the edge's abuse limits cost: publish throughput (wrk, 32 connections, 1,000 channels) and the
 * stream-open rate of one all-in-one node on Redis, with the rate limits off and on (limits set so high
 * that nothing is refused: what is measured is the check itself, a Redis round trip per request), side
 * by side, alternating runs. Prints a table; read the ratio (the machine is shared and noisy).
 *
 *   npm run bench:internal
 */
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import http from "node:http";
import path from "node:path";
import Redis from "ioredis";

const ROOT = path.resolve(__dirname, "../..");
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Node {
	port: number;
	stop(): Promise<void>;
}

async function startNode(namespace: string, limits: boolean): Promise<Node> {
	const child = spawn(process.execPath, [path.join(ROOT, "dist/src/bin/start.js")], {
		env: {
			PATH: process.env.PATH,
			PORT: "0",
			EMBEDDED_MQTT_PORT: "0",
			REDIS_URL,
			NAMESPACE: namespace,
			LOG_LEVEL: "warn",
			RATE_LIMITS: limits ? "on" : "off",
			PUBLISH_BURST: "1000000000",
			PUBLISH_RATE: "1000000",
			STREAM_OPEN_BURST: "1000000000",
			STREAM_OPEN_RATE: "1000000",
			STREAM_CHANNELS_PER_CLIENT: "1000",
		},
		stdio: ["ignore", "pipe", "inherit"],
	});
	const port = await new Promise<number>((resolve, reject) => {
		let out = "";
		child.stdout.on("data", (chunk: Buffer) => {
			out += chunk.toString();
			const ready = /CHATCAST_READY (\{.*\})/.exec(out);
			if (ready) resolve((JSON.parse(ready[1]) as { port: number }).port);
		});
		child.once("exit", code => reject(new Error(`node exited (${code}): ${out}`)));
	});
	child.stdout.resume();
	return {
		port,
		stop: () =>
			new Promise(resolve => {
				child.once("exit", () => resolve());
				child.kill("SIGTERM");
			}),
	};
}

/** Publishes per second under wrk. */
function publishRate(port: number): number {
	const run = spawnSync(
		"wrk",
		["-t1", "-c32", `-d${SECONDS}s`, "-s", path.join(ROOT, "bench/wrk-publish.lua"), `http://127.0.0.1:${port}`],
		{
			encoding: "utf8",
		},
	);
	const rate = /Requests\/sec:\s+([\d.]+)/.exec(run.stdout);
	const errors = /Non-2xx or 3xx responses: (\d+)/.exec(run.stdout);
	if (!rate) throw new Error(`wrk printed no rate: ${run.stdout}${run.stderr}`);
	if (errors) throw new Error(`${errors[1]} publishes were refused: the bench measures the limits' cost, not refusals`);
	return Number(rate[1]);
}

/**
 * Requests per second from `workers` concurrent clients, each from its own loopback address when
 * `spread` (127.0.0.2, 127.0.0.3, …: each its own bucket, so no two requests share a rate-limit call).
 */
async function requestRate(port: number, kind: "publish" | "stream", workers: number, spread: boolean): Promise<number> {
	const until = Date.now() + SECONDS * 1000;
	let done = 0;
	const worker = async (index: number): Promise<void> => {
		const localAddress = spread ? `127.0.0.${index + 2}` : "127.0.0.1";
		const agent = new http.Agent({ keepAlive: kind === "publish", maxSockets: 1 });
		while (Date.now() < until) {
			await new Promise<void>((resolve, reject) => {
				const path = `/api/channels/${randomUUID()}/${kind === "publish" ? "messages" : "events"}`;
				const options = { port, host: "127.0.0.1", localAddress, agent, path };
				const req = http.request(
					kind === "publish" ? { ...options, method: "POST", headers: { "Content-Type": "text/plain" } } : options,
					res => {
						if (res.statusCode !== (kind === "publish" ? 201 : 200)) reject(new Error(`${kind} answered ${res.statusCode}`));
						done++;
						if (kind === "stream") req.destroy();
						else res.resume();
						resolve();
					},
				);
				req.on("error", reject);
				req.end(kind === "publish" ? "benchmark message" : undefined);
			});
		}
		agent.destroy();
	};
	await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
	return done / SECONDS;
}

async function dropKeys(namespace: string): Promise<void> {
	const redis = new Redis(REDIS_URL);
	let cursor = "0";
	do {
		const [next, keys] = await redis.scan(cursor, "MATCH", `${namespace}:*`, "COUNT", 1000);
		cursor = next;
		if (keys.length > 0) await redis.unlink(...keys);
	} while (cursor !== "0");
	await redis.quit();
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// Stream opens are measured from several addresses only: thousands of short connections from one
// address exhaust its ephemeral ports (TIME_WAIT), and that, not Chatcast, would set the rate.
const SCENARIOS: Record<string, (port: number) => Promise<number>> = {
	"publishes: wrk, 32 connections from one address": port => Promise.resolve(publishRate(port)),
	"publishes: 32 clients from 32 addresses": port => requestRate(port, "publish", 32, true),
	"stream opens: 8 clients from 8 addresses": port => requestRate(port, "stream", 8, true),
};

async function main(): Promise<void> {
	const results: Record<"off" | "on", Record<string, number[]>> = { off: {}, on: {} };
	for (let round = 1; round <= ROUNDS; round++) {
		for (const mode of ["off", "on"] as const) {
			const namespace = `bench-limits-${randomUUID().slice(0, 8)}`;
			const node = await startNode(namespace, mode === "on");
			try {
				for (const [name, run] of Object.entries(SCENARIOS)) {
					process.stderr.write(`round ${round}/${ROUNDS}, limits ${mode}: ${name}\n`);
					results[mode][name] = [...(results[mode][name] ?? []), await run(node.port)];
				}
			} finally {
				await node.stop();
				await dropKeys(namespace);
			}
		}
	}
	const row = (name: string): string => {
		const [off, on] = [median(results.off[name]), median(results.on[name])];
		return `| ${name} | ${off.toFixed(0)} | ${on.toFixed(0)} | ${(on / off).toFixed(2)} |`;
	};
	console.log(`\nAbuse limits: cost of the checks (all-in-one node on Redis; medians of ${ROUNDS} runs of ${SECONDS} s)\n`);
	console.log("| per second | limits off | limits on | on ÷ off |\n|---|---:|---:|---:|");
	for (const name of Object.keys(SCENARIOS)) console.log(row(name));
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
