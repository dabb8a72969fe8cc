/**
 * The one way Chatcast connects to Redis, for history and rate limits alike: a single server
 * (`REDIS_URL`), the master a set of Sentinels names (`REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`), or a
 * Redis Cluster (`REDIS_CLUSTER_NODES`). The caller says how commands behave (timeouts, retries, no
 * offline queue); this module says where they go.
 *
 * @example
 *   const redis = connectRedis({ kind: "cluster", nodes: [{ host: "10.0.0.1", port: 7000 }], tls: false }, { commandTimeout: 2000 });
 *   await whenReady(redis, 1000);
 *   for (const master of masters(redis)) console.log(await master.info("memory"));
 */
import Redis, { Cluster, type RedisOptions } from "ioredis";
import calculateSlot from "cluster-key-slot";

export interface RedisNode {
	host: string;
	port: number;
}

/** What every node of a Sentinel or Cluster deployment is reached with (a REDIS_URL carries its own). */
export interface RedisCredentials {
	username?: string;
	password?: string;
	/** TLS to every node (the `rediss://` of a URL). */
	tls: boolean;
}

type SentinelTarget = { kind: "sentinel"; sentinels: RedisNode[]; name: string; sentinelPassword?: string } & RedisCredentials;

export type RedisTarget =
	| { kind: "server"; url: string }
	| SentinelTarget
	| ({ kind: "cluster"; nodes: RedisNode[] } & RedisCredentials);

export type RedisConnection = Redis | Cluster;

/** How commands behave on the connection (the same for every node of a Cluster). */
export type CommandBehaviour = Pick<
	RedisOptions,
	| "maxRetriesPerRequest"
	| "commandTimeout"
	| "retryStrategy"
	| "enableOfflineQueue"
	| "autoResendUnfulfilledCommands"
	| "disconnectTimeout"
>;

/** A replica that answers READONLY was the master until a failover: reconnect (Sentinel names the new one), resend nothing. */
function reconnectOnReadonly(err: Error): 1 | false {
	return err.message.startsWith("READONLY") ? 1 : false;
}

/**
 * Told by the Sentinels' +switch-master at once, not only when the old master stops answering (one cut
 * off the network never does): a connection that has a socket to anything but the new master drops it and
 * asks the Sentinels again. ioredis's own `failoverDetector` also closes a connection that is already
 * reconnecting, and one closed while it waits for a Sentinel's answer ends for good (ioredis 5: the
 * connector's connect then rejects, and a rejected connect is never retried; status `end`, every publish
 * refused; test/integration/redis-sentinel-reconnect.test.ts). A reconnecting one asks the Sentinels anyway.
 */
function followMasterSwitches(redis: Redis, target: SentinelTarget, tls: object | undefined): void {
	const key = JSON.stringify([target.sentinels.map(({ host, port }) => `${host}:${port}`), target.sentinelPassword, target.tls]);
	const watch = switchWatches.get(key) ?? watchSwitches(key, target, tls);
	const follow: SwitchFollower = (name, newHost, newPort) => {
		if (name !== target.name || (redis.status !== "ready" && redis.status !== "connect")) return;
		if (redis.stream.remoteAddress !== newHost || String(redis.stream.remotePort) !== newPort) redis.disconnect(true);
	};
	watch.followers.add(follow);
	redis.once("end", () => {
		watch.followers.delete(follow);
		if (watch.followers.size > 0) return;
		for (const watcher of watch.watchers) watcher.disconnect();
		switchWatches.delete(key);
	});
}

/** Told of a +switch-master: the master set's name, the new master's host and port. */
type SwitchFollower = (name: string, newHost: string, newPort: string) => void;

interface SwitchWatch {
	watchers: Redis[];
	followers: Set<SwitchFollower>;
}

/**
 * One watcher per Sentinel per process, by Sentinel set: every connection of the process to it (history
 * store, rate limiter) follows the same watchers, which close with the last of them.
 */
const switchWatches = new Map<string, SwitchWatch>();

/** The watchers of `target`'s Sentinels, registered under `key`. */
function watchSwitches(key: string, target: SentinelTarget, tls: object | undefined): SwitchWatch {
	const followers = new Set<SwitchFollower>();
	const watchers = target.sentinels.map(({ host, port }) => {
		const watcher = new Redis({
			host,
			port,
			password: target.sentinelPassword,
			tls,
			maxRetriesPerRequest: null,
			// A Sentinel that is away for a while is watched again when it is back.
			retryStrategy: () => 1000,
		});
		watcher.on("error", () => undefined);
		watcher.subscribe("+switch-master").catch(() => undefined);
		watcher.on("message", (_channel: string, message: string) => {
			// "<name> <old ip> <old port> <new ip> <new port>"
			const [name, , , newHost, newPort] = message.split(" ");
			for (const follow of followers) follow(name, newHost, newPort);
		});
		return watcher;
	});
	const watch = { watchers, followers };
	switchWatches.set(key, watch);
	return watch;
}

/**
 * A connection to `target`; errors are the caller's to observe (commands fail, `status` says why).
 *
 * In a Cluster a command whose connection closed before its answer is not sent again (it may have run:
 * an append must not run twice); MOVED, ASK, TRYAGAIN and CLUSTERDOWN replies are retried, as Redis
 * ran nothing then.
 */
export function connectRedis(target: RedisTarget, behaviour: CommandBehaviour): RedisConnection {
	if (target.kind === "server") return new Redis(target.url, behaviour);
	const tls = target.tls ? {} : undefined;
	const node = { ...behaviour, username: target.username, password: target.password, tls };
	if (target.kind === "sentinel") {
		const redis = new Redis({
			...node,
			sentinels: target.sentinels,
			name: target.name,
			sentinelPassword: target.sentinelPassword,
			enableTLSForSentinelMode: target.tls,
			sentinelTLS: tls,
			// Not ioredis's own detector: see followMasterSwitches.
			failoverDetector: false,
			reconnectOnError: reconnectOnReadonly,
		});
		followMasterSwitches(redis, target, tls);
		return redis;
	}
	const cluster = new Cluster(target.nodes, {
		redisOptions: node,
		enableOfflineQueue: behaviour.enableOfflineQueue,
		clusterRetryStrategy: times => Math.min(times * 200, 2000),
		retryDelayOnFailover: 0,
		scaleReads: "master",
		slotsRefreshTimeout: 2000,
	});
	// ioredis connects to a node at its first command, which, without an offline queue, it then refuses:
	// once the cluster knows its slots, connect to every node it names (whenReady waits for the masters).
	const connectNodes = (): void => {
		for (const node of cluster.nodes()) if (node.status === "wait") node.connect().catch(() => undefined);
	};
	cluster.on("ready", connectNodes);
	cluster.on("+node", () => {
		if (cluster.status === "ready") connectNodes();
	});
	return cluster;
}

/** The servers that hold data: every master of a Cluster, the one master otherwise. */
export function masters(redis: RedisConnection): Redis[] {
	return redis instanceof Cluster ? redis.nodes("master") : [redis];
}

/**
 * Items grouped so that each group's keys may go to one multi-key command: by hash slot in a Cluster
 * (Redis refuses keys of several slots in one command there), all together otherwise.
 *
 * @example
 *   sameSlotGroups(cluster, ["a", "b", "{a}:x"], key => key); // [["a", "{a}:x"], ["b"]]
 */
export function sameSlotGroups<T>(redis: RedisConnection, items: T[], keyOf: (item: T) => string): T[][] {
	if (!(redis instanceof Cluster)) return items.length > 0 ? [items] : [];
	const groups = new Map<number, T[]>();
	for (const item of items) {
		const slot = calculateSlot(keyOf(item));
		const group = groups.get(slot);
		if (group) group.push(item);
		else groups.set(slot, [item]);
	}
	return [...groups.values()];
}

/**
 * Resolves true once the connection is ready (at once if it is) — a Cluster: once it knows its slots and
 * is connected to every master — false after `timeoutMs` or if it has ended.
 */
export async function whenReady(redis: RedisConnection, timeoutMs: number): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	if (!(await statusReady(redis, timeoutMs))) return false;
	if (!(redis instanceof Cluster)) return true;
	const ready = await Promise.all(redis.nodes("master").map(master => statusReady(master, deadline - Date.now())));
	return ready.every(Boolean);
}

async function statusReady(redis: RedisConnection, timeoutMs: number): Promise<boolean> {
	if (redis.status !== "ready" && redis.status !== "end" && timeoutMs > 0) {
		await new Promise<void>(resolve => {
			const done = (): void => {
				clearTimeout(timer);
				redis.off("ready", done);
				resolve();
			};
			const timer = setTimeout(done, timeoutMs);
			redis.once("ready", done);
		});
	}
	return redis.status === "ready";
}

/** Closes politely when it can, at once otherwise (a Redis that is gone must not keep the process alive). */
export async function closeRedis(redis: RedisConnection): Promise<void> {
	if (redis.status === "ready") await redis.quit().catch(() => undefined);
	redis.disconnect();
}
