/**
 * A TCP proxy of the test's own in front of a server, that can hold new connections: they are accepted
 * (the client's connect succeeds) but nothing goes through until `release()`, while the connections made
 * before go on as usual — a server that is slow to answer newcomers, e.g. a Sentinel under load. Or it
 * can refuse them (closed as soon as accepted): a server that is away, whose client's retries it counts.
 *
 * @example
 *   const proxy = await startTcpProxy({ host: "127.0.0.1", port: sentinelPort });
 *   proxy.hold(); … proxy.release();
 *   await proxy.stop();
 */
import net from "node:net";
import type { RedisNode } from "../../src/redis-connection";

export interface TcpProxy extends RedisNode {
	/** From now on, new connections wait (accepted, not forwarded). */
	hold(): void;
	/** Forwards the waiting connections and every new one. */
	release(): void;
	/** How many connections wait now. */
	held(): number;
	/** Whether new connections are closed at once (and existing ones closed now). */
	refuse(refusing: boolean): void;
	/** When each connection was accepted (Date.now()), in order. */
	readonly acceptedAt: readonly number[];
	stop(): Promise<void>;
}

export async function startTcpProxy(target: RedisNode): Promise<TcpProxy> {
	const sockets = new Set<net.Socket>();
	let waiting: net.Socket[] | undefined;
	let refusing = false;
	const acceptedAt: number[] = [];
	const forward = (client: net.Socket): void => {
		if (client.destroyed) return;
		const upstream = net.connect(target.port, target.host);
		sockets.add(upstream);
		upstream.on("close", () => sockets.delete(upstream));
		client.pipe(upstream).pipe(client);
		upstream.on("error", () => client.destroy());
		client.on("close", () => upstream.destroy());
	};
	const server = net.createServer(client => {
		acceptedAt.push(Date.now());
		if (refusing) {
			client.destroy();
			return;
		}
		sockets.add(client);
		client.on("close", () => sockets.delete(client));
		client.on("error", () => client.destroy());
		if (waiting) waiting.push(client);
		else forward(client);
	});
	await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
	const address = server.address();
	if (address === null || typeof address === "string") throw new Error("proxy without a port");
	return {
		host: "127.0.0.1",
		port: address.port,
		hold() {
			waiting ??= [];
		},
		release() {
			const clients = waiting ?? [];
			waiting = undefined;
			for (const client of clients) forward(client);
		},
		held: () => waiting?.length ?? 0,
		refuse(on) {
			refusing = on;
			if (on) for (const socket of sockets) socket.destroy();
		},
		acceptedAt,
		async stop() {
			for (const socket of sockets) socket.destroy();
			await new Promise<void>(resolve => server.close(() => resolve()));
		},
	};
}
