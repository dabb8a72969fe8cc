/**
 * A whole Chatcast node inside the test process: one Moleculer broker without a transporter, history in
 * memory, the gateway on a free loopback port. Unit tests drive it over real HTTP; nothing is spawned.
 *
 * @example
 *   const node = await startInProcess({ maxMessageBytes: 64 });
 *   await fetch(`${node.baseUrl}/api/limits`); // {"maxMessageBytes":64}
 *   const stream = await readStream(`${node.baseUrl}/api/channels/${channel}/events`);
 *   await stream.waitFor(events => events.length >= 2);
 *   stream.close();
 *   await node.stop();
 */
import { randomUUID } from "node:crypto";
import { get, type IncomingHttpHeaders, Server } from "node:http";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { ServiceBroker } from "moleculer";
import { createBrokerOptions } from "../../moleculer.config";
import { createServices } from "../../services";
import { type ChatcastConfig, loadConfig } from "../../src/config";

export interface InProcessNode {
	baseUrl: string;
	broker: ServiceBroker;
	config: ChatcastConfig;
	stop(): Promise<void>;
}

/**
 * Starts the default services (or `overrides.services`) with the default configuration plus
 * `overrides`; history is always in memory and the gateway always on 127.0.0.1, port 0. Rate limits are
 * off unless `overrides.rateLimits` sets them (the contract tests publish faster than a person types).
 */
export async function startInProcess(overrides: Partial<ChatcastConfig> = {}): Promise<InProcessNode> {
	const config: ChatcastConfig = {
		...loadConfig({}),
		nodeID: `in-process-${randomUUID().slice(0, 8)}`,
		rateLimits: undefined,
		...overrides,
		redis: undefined,
		mqttUrls: undefined,
		metricsPort: undefined,
		port: 0,
		host: "127.0.0.1",
	};
	// The production broker options (validator, timeouts, registry), without a transporter and quiet.
	const broker = new ServiceBroker({ ...createBrokerOptions(config, undefined), logger: false });
	createServices(broker, config);
	await broker.start();
	const port = gatewayPort(broker);
	if (port === null) {
		await broker.stop();
		throw new Error("The api service did not listen (is it in `services`?)");
	}
	return { baseUrl: `http://127.0.0.1:${port}`, broker, config, stop: () => broker.stop() };
}

/** The port moleculer-web's server (kept on the api service) listens on; null without one. */
function gatewayPort(broker: ServiceBroker): number | null {
	const api: unknown = broker.getLocalService("api");
	const server = typeof api === "object" && api !== null && "server" in api ? api.server : undefined;
	const address = server instanceof Server ? server.address() : null;
	return typeof address === "object" && address !== null ? address.port : null;
}

export interface StreamReader {
	status: number;
	headers: IncomingHttpHeaders;
	/** Every event, in arrival order (`event` is undefined for unnamed ones). */
	events: EventSourceMessage[];
	/** The stream's text as received, so a test can check the framing itself. */
	raw: string;
	/** The `retry:` values, in arrival order. */
	retries: number[];
	/** Comment lines (heartbeats) received. */
	comments: number;
	/** True once the stream ended (the server ended it, or close()). */
	ended: boolean;
	/** Resolves with the events once `done(events)` holds; rejects after `timeoutMs`. */
	waitFor(done: (events: EventSourceMessage[]) => boolean, timeoutMs?: number): Promise<EventSourceMessage[]>;
	/** Drops the connection (the server sees the client go away). */
	close(): void;
}

/**
 * Opens an SSE stream and parses it with eventsource-parser; resolves once the answer's headers are in.
 * node:http rather than fetch: after an aborted fetch, undici opens a spare connection that holds the
 * server's close() for seconds; here every stream has its own socket, gone when it is closed.
 */
export function readStream(url: string, headers: Record<string, string> = {}): Promise<StreamReader> {
	return new Promise((resolve, reject) => {
		const req = get(url, { agent: false, headers: { Accept: "text/event-stream", ...headers } }, res => {
			const reader: StreamReader = {
				status: res.statusCode ?? 0,
				headers: res.headers,
				events: [],
				raw: "",
				retries: [],
				comments: 0,
				ended: false,
				waitFor: (done, timeoutMs = 2000) => waitUntil(() => done(reader.events), timeoutMs).then(() => reader.events),
				close: () => req.destroy(),
			};
			const parser = createParser({
				onEvent: event => reader.events.push(event),
				onRetry: ms => reader.retries.push(ms),
				onComment: () => reader.comments++,
			});
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => {
				reader.raw += chunk;
				parser.feed(chunk);
			});
			res.on("close", () => {
				reader.ended = true;
			});
			resolve(reader);
		});
		req.on("error", reject);
	});
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!done()) {
		if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
		await new Promise(resolve => setTimeout(resolve, 10));
	}
}
