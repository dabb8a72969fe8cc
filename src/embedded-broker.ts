/**
 * Starts the embedded MQTT broker (src/bin/embedded-mqtt.ts) in a child process.
 *
 * @example
 *   const broker = await startEmbeddedBroker(1884);
 *   broker.url;   // "mqtt://chatcast:<password>@127.0.0.1:1884", or another port if 1884 was taken
 *   broker.stop();
 */
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";

/** The one user the embedded broker admits; its password is made anew at every start. */
export const EMBEDDED_MQTT_USER = "chatcast";
/** How the password reaches the broker's process (not its arguments: those are visible to every user). */
export const EMBEDDED_PASSWORD_ENV = "CHATCAST_EMBEDDED_MQTT_PASSWORD";

export interface EmbeddedBroker {
	/** With the credentials. */
	url: string;
	port: number;
	/** false when the wanted port was taken and a free one was used instead. */
	gotWantedPort: boolean;
	stop(): void;
}

export function startEmbeddedBroker(wantedPort: number, timeoutMs = 10_000): Promise<EmbeddedBroker> {
	const script = path.join(__dirname, "bin", "embedded-mqtt.js");
	const password = randomBytes(24).toString("base64url");
	const child = fork(script, [String(wantedPort)], {
		stdio: ["ignore", "inherit", "inherit", "ipc"],
		env: { ...process.env, [EMBEDDED_PASSWORD_ENV]: password },
	});
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
				url: `mqtt://${EMBEDDED_MQTT_USER}:${password}@127.0.0.1:${msg.port}`,
				port: msg.port,
				gotWantedPort: msg.port === wantedPort,
				stop: () => {
					if (child.exitCode === null) child.kill("SIGTERM");
				},
			});
		});
	});
}
