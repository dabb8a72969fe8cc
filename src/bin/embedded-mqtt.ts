/**
 * The embedded MQTT broker (aedes), run as its own process by `npm start` when MQTT_URL is not set.
 * Listens on 127.0.0.1 at the port given (or any free one if that is taken), reports the port to its
 * parent over IPC, and exits when the parent goes away.
 */
import net from "node:net";

async function main(): Promise<void> {
	const wanted = Number(process.argv[2] ?? 1884);
	// aedes is an ES module: import() loads it from CommonJS.
	const { Aedes } = await import("aedes");
	const aedes = await Aedes.createBroker();
	// No Nagle: a request is answered with several small packets in a row (see README, "Scaling").
	const server = net.createServer(socket => {
		socket.setNoDelay(true);
		aedes.handle(socket);
	});

	const listen = (port: number): Promise<number> =>
		new Promise((resolve, reject) => {
			server.once("error", reject);
			server.listen(port, "127.0.0.1", () => {
				server.off("error", reject);
				resolve((server.address() as net.AddressInfo).port);
			});
		});

	let port: number;
	try {
		port = await listen(wanted);
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
		port = await listen(0);
	}
	process.send?.({ type: "listening", port, wanted });
	process.on("disconnect", () => process.exit(0));
	process.on("SIGTERM", () => server.close(() => aedes.close(() => process.exit(0))));
}

main().catch(err => {
	console.error("Embedded MQTT broker failed:", err);
	process.exit(1);
});
