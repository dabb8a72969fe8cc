/**
 * Starts the embedded MQTT broker (src/bin/embedded-mqtt.ts) in a child process.
 *
 * @example
 *   const broker = await startEmbeddedBroker(1884);
 *   broker.url;   // "mqtt://127.0.0.1:1884", or another port if 1884 was taken
 *   broker.stop();
 */
import { fork } from "node:child_process";
import path from "node:path";

export interface EmbeddedBroker {
	url: string;
	port: number;
	/** false when the wanted port was taken and a free one was used instead. */
	gotWantedPort: boolean;
	stop(): void;
}

export function startEmbeddedBroker(wantedPort: number, timeoutMs = 10_000): Promise<EmbeddedBroker> {
	const script = path.join(__dirname, "bin", "embedded-mqtt.js");
	const child = fork(script, [String(wantedPort)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			child.kill();
			reject(new Error("Embedded MQTT broker did not start in time"));
		}, timeoutMs);
		child.once("exit", code => {
			clearTimeout(timer);
			reject(new Error(`Embedded MQTT broker exited (code ${code})`));
		});
		child.once("message", (msg: { type: string; port: number }) => {
			clearTimeout(timer);
			child.removeAllListeners("exit");
			resolve({
				url: `mqtt://127.0.0.1:${msg.port}`,
				port: msg.port,
				gotWantedPort: msg.port === wantedPort,
				stop: () => {
					if (child.exitCode === null) child.kill("SIGTERM");
				},
			});
		});
	});
}
