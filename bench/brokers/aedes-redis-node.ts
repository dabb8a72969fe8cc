/**
 * One aedes broker of a cluster that shares state through Redis (mqemitter-redis for the packets,
 * aedes-persistence-redis for sessions and subscriptions), loaded from AEDES_REDIS_DIR (the bench installs
 * them there with `npm install --no-save --prefix`, not into Chatcast). Prints `AEDES_READY {"port":…}`.
 *
 *   AEDES_REDIS_DIR=/tmp/aedes-redis REDIS_URL=redis://127.0.0.1:6390 node dist/bench/brokers/aedes-redis-node.js 18830
 */
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** The entry file of each package (aedes is an ES module, the others CommonJS). */
const ENTRIES: Record<string, string> = {
	"mqemitter-redis": "mqemitter-redis.js",
	"aedes-persistence-redis": "persistence.js",
	aedes: "aedes.js",
};

async function load(dir: string, name: string): Promise<Record<string, unknown>> {
	const entry = path.join(dir, "node_modules", name, ENTRIES[name]);
	return (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
}

async function main(): Promise<void> {
	const dir = process.env.AEDES_REDIS_DIR ?? "/tmp/aedes-redis";
	const redis = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
	const port = Number(process.argv[2]);
	const connection = { host: redis.hostname, port: Number(redis.port || 6379) };
	const [emitter, persistence, aedes] = await Promise.all(
		["mqemitter-redis", "aedes-persistence-redis", "aedes"].map(name => load(dir, name)),
	);
	const factory = (module: Record<string, unknown>): ((options: object) => unknown) => {
		const made = module.default ?? module;
		if (typeof made !== "function") throw new Error("not a factory");
		return made as (options: object) => unknown;
	};
	const Aedes = aedes.Aedes as { createBroker(options: object): Promise<{ handle(socket: net.Socket): void }> };
	const broker = await Aedes.createBroker({ mq: factory(emitter)(connection), persistence: factory(persistence)(connection) });
	const server = net.createServer(socket => {
		socket.setNoDelay(true);
		broker.handle(socket);
	});
	server.listen(port, "127.0.0.1", () => console.log(`AEDES_READY ${JSON.stringify({ port })}`));
}

main().catch(err => {
	console.error("aedes-redis node failed:", err);
	process.exit(1);
});
