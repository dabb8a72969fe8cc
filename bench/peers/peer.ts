/** What the comparison bench needs of a server under test, whatever it is. */
export interface RunningPeer {
	/** Loopback port serving `POST /api/channels/:id/messages` and `GET /api/channels/:id/events`. */
	port: number;
	/** Root PIDs whose process trees are the server (their CPU is the server's CPU); the bench's Redis is added. */
	pids: number[];
	stop(): Promise<void>;
}

export interface Peer {
	/** The name `--peers` takes (`chatcast-redis`). */
	id: string;
	/** The name in the tables. */
	name: string;
	/** Chatcast's rows get ratios against the nchan peer with the same store. */
	family: "chatcast" | "nchan" | "baseline";
	/** `redis`: the peer stores in the bench's own Redis, whose CPU and memory count into the peer's. */
	store: "memory" | "redis";
	/** Why this peer cannot run on this machine, or undefined when it can. */
	missing(): string | undefined;
	/** Starts the server; `redisUrl` is the bench's own Redis for peers that store in Redis. */
	start(redisUrl: string): Promise<RunningPeer>;
}
