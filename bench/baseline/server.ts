/**
 * The smallest honest store-and-publish server, as a floor for what Node + Redis can do: a publish is
 * one Lua call (next seq, append to the channel's capped list, PUBLISH); each node holds one Redis
 * SUBSCRIBE per channel with local subscribers and frames each message once for all of them. A stream
 * opened with `Last-Event-ID: n` is registered first, then gets the channel's stored messages with seq > n
 * (one LRANGE per stream, nothing coalesced), then the live ones it had not had. No validation beyond size,
 * no auth, no presence, no gap repair: what Chatcast adds costs what it costs.
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
/** An open stream: while its replay runs, live frames wait in `held`; `lastSeq` drops what it already had. */
interface Stream {
	res: http.ServerResponse;
	lastSeq: number;
	held?: [seq: number, frame: string][];
}
const streams = new Map<string, Set<Stream>>();
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

const seqOf = (message: string): number => Number(/^\{"seq":(\d+)/.exec(message)?.[1]);
const frameOf = (seq: number, message: string): string => `id: ${seq}\nevent: message\ndata: ${message}\n\n`;

/** Writes a frame the stream has not had yet. */
function deliver(stream: Stream, seq: number, frame: string): void {
	if (stream.held) stream.held.push([seq, frame]);
	else if (seq > stream.lastSeq) {
		stream.lastSeq = seq;
		stream.res.write(frame);
	}
}

subscriber.on("message", (topic: string, message: string) => {
	const channel = topic.slice(PREFIX.length + 1, -":pub".length);
	const seq = seqOf(message);
	const frame = frameOf(seq, message);
	for (const stream of streams.get(channel) ?? []) deliver(stream, seq, frame);
});

/** Sends the stored messages after `stream.lastSeq`, then what arrived live meanwhile. */
async function replay(channel: string, stream: Stream): Promise<void> {
	const stored = await redis.lrange(`${PREFIX}:${channel}:log`, 0, -1).catch(() => []);
	const held = stream.held ?? [];
	stream.held = undefined;
	for (const message of stored) deliver(stream, seqOf(message), frameOf(seqOf(message), message));
	for (const [seq, frame] of held) deliver(stream, seq, frame);
}

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
	const lastEventId = Number(req.headers["last-event-id"] ?? Number.NaN);
	const stream: Stream = Number.isInteger(lastEventId) ? { res, lastSeq: lastEventId, held: [] } : { res, lastSeq: 0 };
	let local = streams.get(channel);
	if (!local) {
		local = new Set();
		streams.set(channel, local);
		void subscriber.subscribe(`${PREFIX}:${channel}:pub`);
	}
	local.add(stream);
	if (stream.held) void replay(channel, stream);
	req.on("close", () => {
		local.delete(stream);
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
