/**
 * The smallest honest store-and-publish server, as a floor for what Node + Redis can do: a publish is
 * one Lua call (next seq, append to the channel's capped list, PUBLISH); each node holds one Redis
 * SUBSCRIBE per channel with local subscribers and frames each message once for all of them. No
 * validation beyond size, no auth, no presence, no resume: what Chatcast adds costs what it costs.
 *
 *   PORT=0 REDIS_URL=redis://127.0.0.1:6379 KEY_PREFIX=bench node dist/bench/baseline/server.js
 */
import http from "node:http";
import Redis from "ioredis";

const PREFIX = process.env.KEY_PREFIX ?? "bench-baseline";
const MAX_BYTES = 4096;
const ROUTE = /^\/api\/channels\/([A-Za-z0-9-]{1,64})\/(messages|events)$/;

// The seq is spliced into the message JSON here, so the stored and published text is the one answered.
const APPEND = `
local seq = redis.call("INCR", KEYS[1])
local message = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call("RPUSH", KEYS[2], message)
redis.call("LTRIM", KEYS[2], -1000, -1)
redis.call("EXPIRE", KEYS[1], 300)
redis.call("EXPIRE", KEYS[2], 300)
redis.call("PUBLISH", KEYS[3], message)
return message`;

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const subscriber = redis.duplicate();
const streams = new Map<string, Set<http.ServerResponse>>();
/** Set on SIGTERM: the streams closed by the stop need no UNSUBSCRIBE (the connection is quitting). */
let stopping = false;

// Loaded once; each publish then sends only the script's hash (EVALSHA).
const appendSha = redis.script("LOAD", APPEND).then(String);
const append = async (channel: string, json: string): Promise<string> =>
	String(
		await redis.evalsha(
			await appendSha,
			3,
			`${PREFIX}:${channel}:seq`,
			`${PREFIX}:${channel}:log`,
			`${PREFIX}:${channel}:pub`,
			json,
		),
	);

subscriber.on("message", (topic: string, message: string) => {
	const channel = topic.slice(PREFIX.length + 1, -":pub".length);
	const seq = /^\{"seq":(\d+)/.exec(message)?.[1];
	const frame = `id: ${seq}\nevent: message\ndata: ${message}\n\n`;
	for (const res of streams.get(channel) ?? []) res.write(frame);
});

function publish(channel: string, req: http.IncomingMessage, res: http.ServerResponse): void {
	const chunks: Buffer[] = [];
	let bytes = 0;
	req.on("data", (chunk: Buffer) => {
		bytes += chunk.length;
		if (bytes <= MAX_BYTES) chunks.push(chunk);
	});
	req.on("end", () => {
		if (bytes > MAX_BYTES) {
			res.writeHead(413).end();
			return;
		}
		const text = Buffer.concat(chunks).toString("utf8");
		append(channel, JSON.stringify({ channel, text, sentAt: new Date().toISOString() })).then(
			message => res.writeHead(201, { "Content-Type": "application/json" }).end(message),
			() => res.writeHead(503).end(),
		);
	});
}

function subscribe(channel: string, req: http.IncomingMessage, res: http.ServerResponse): void {
	res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
	res.write(":\n\n");
	let local = streams.get(channel);
	if (!local) {
		local = new Set();
		streams.set(channel, local);
		void subscriber.subscribe(`${PREFIX}:${channel}:pub`);
	}
	local.add(res);
	req.on("close", () => {
		local.delete(res);
		if (stopping || local.size > 0 || streams.get(channel) !== local) return;
		streams.delete(channel);
		void subscriber.unsubscribe(`${PREFIX}:${channel}:pub`);
	});
}

const server = http.createServer((req, res) => {
	const route = ROUTE.exec(req.url ?? "");
	if (route && route[2] === "messages" && req.method === "POST") publish(route[1], req, res);
	else if (route && route[2] === "events" && req.method === "GET") subscribe(route[1], req, res);
	else res.writeHead(404).end();
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
	const address = server.address();
	console.log(`BASELINE_READY ${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}`);
});
process.on("SIGTERM", () => {
	stopping = true;
	server.closeAllConnections();
	server.close();
	void Promise.all([redis.quit(), subscriber.quit()]).finally(() => process.exit(0));
});
