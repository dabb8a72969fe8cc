/**
 * The embedded MQTT broker (aedes), run as its own process by `npm start` when MQTT_URL is not set.
 * Listens on 127.0.0.1 at the port given (or any free one if that is taken), admits only the user
 * `chatcast` with the password its parent made, reports the port to its parent over IPC, and exits when
 * the parent goes away.
 */
import { timingSafeEqual } from "node:crypto";
import net from "node:net";
import { EMBEDDED_MQTT_USER, EMBEDDED_PASSWORD_ENV } from "../embedded-broker";

async function main(): Promise<void> {
	const wanted = Number(process.argv[2] ?? 1884);
	// aedes is an ES module: import() loads it from CommonJS.
	const { Aedes } = await import("aedes");
	const password = Buffer.from(process.env[EMBEDDED_PASSWORD_ENV] ?? "");
	if (password.length === 0) throw new Error(`${EMBEDDED_PASSWORD_ENV} is not set`);
	const aedes = await Aedes.createBroker({
		authenticate(_client, username, given, done) {
			const ok = username === EMBEDDED_MQTT_USER && given !== undefined && sameBytes(given, password);
			done(null, ok);
		},
	});
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

function sameBytes(a: Buffer, b: Buffer): boolean {
	return a.length === b.length && timingSafeEqual(a, b);
}

main().catch(err => {
	console.error("Embedded MQTT broker failed:", err);
	process.exit(1);
});
