/**
 * nchan (nginx module) with its own temporary config on a free port: 2 workers, the same URLs as
 * Chatcast (`/api/channels/:id/messages` publishes, `/api/channels/:id/events` is EventSource), a
 * 1,000-message buffer per channel; the memory store, or the Redis store on the bench's own Redis.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, stopChild, waitForPort, withFileLimit } from "../support/processes";
import type { Peer } from "./peer";

const NGINX = "/usr/sbin/nginx";
const MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so";
const WORKERS = 2;

function config(dir: string, port: number, redisUrl: string | undefined): string {
	const upstream = redisUrl ? `upstream bench_redis { nchan_redis_server "${redisUrl}"; }` : "";
	const store = redisUrl ? "nchan_redis_pass bench_redis;" : "";
	const user = process.getuid?.() === 0 ? "user root;" : "";
	return `load_module ${MODULE};
${user}
daemon off;
worker_processes ${WORKERS};
worker_rlimit_nofile 19500;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 19000; }
http {
	access_log off;
	client_body_temp_path ${dir}/body;
	proxy_temp_path ${dir}/proxy;
	fastcgi_temp_path ${dir}/fastcgi;
	uwsgi_temp_path ${dir}/uwsgi;
	scgi_temp_path ${dir}/scgi;
	nchan_max_reserved_memory 256M;
	${upstream}
	server {
		listen 127.0.0.1:${port} backlog=4096;
		nchan_message_buffer_length 1000;
		nchan_message_timeout 5m;
		location ~ ^/api/channels/([^/]+)/messages$ {
			nchan_publisher;
			nchan_channel_id $1;
			${store}
		}
		location ~ ^/api/channels/([^/]+)/events$ {
			nchan_subscriber eventsource;
			nchan_channel_id $1;
			${store}
		}
	}
}
`;
}

/** Resolves once every worker has logged its Redis upstream ready (a publish before that is not stored). */
async function redisReady(errorLog: string): Promise<void> {
	const deadline = Date.now() + 10_000;
	while (Date.now() < deadline) {
		const log = readFileSync(errorLog, "utf8");
		if ((log.match(/Redis upstream bench_redis: ready/g) ?? []).length >= WORKERS) return;
		await new Promise(resolve => setTimeout(resolve, 50));
	}
	throw new Error(`nchan's workers did not connect to Redis in 10 s (${errorLog})`);
}

function missing(): string | undefined {
	if (!existsSync(NGINX)) return `no ${NGINX}`;
	if (!existsSync(MODULE)) return `no nchan module at ${MODULE} (libnginx-mod-nchan)`;
	if (spawnSync(NGINX, ["-v"]).status !== 0) return `${NGINX} -v fails`;
	return undefined;
}

function nchanPeer(id: string, name: string, redis: boolean): Peer {
	return {
		id,
		name,
		family: "nchan",
		store: redis ? "redis" : "memory",
		missing,
		async start(redisUrl) {
			const dir = mkdtempSync(path.join(os.tmpdir(), "bench-nchan-"));
			const port = await freePort();
			writeFileSync(path.join(dir, "nginx.conf"), config(dir, port, redis ? redisUrl : undefined));
			const [command, args] = withFileLimit(NGINX, ["-p", dir, "-c", path.join(dir, "nginx.conf")]);
			const child = spawn(command, args, { stdio: ["ignore", "ignore", "inherit"] });
			const cleanup = async (): Promise<void> => {
				await stopChild(child);
				rmSync(dir, { recursive: true, force: true });
			};
			try {
				await waitForPort(port, child);
				if (redis) await redisReady(path.join(dir, "error.log"));
			} catch (err) {
				await cleanup();
				throw err;
			}
			if (child.pid === undefined) throw new Error("nginx has no pid");
			return { port, pids: [child.pid], stop: cleanup };
		},
	};
}

export const nchanMemory = nchanPeer("nchan", "nchan memory", false);
export const nchanRedis = nchanPeer("nchan-redis", "nchan Redis", true);
