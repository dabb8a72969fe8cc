/**
 * The test's hands on a network it is not part of: a process on a client host (a network namespace)
 * that runs the checks of `Reach` and the failover clients (test/support/failover-client.ts) there, and
 * answers over its stdin/stdout, one JSON line per call. The program is test/cluster/client-host.ts,
 * built to dist/ by `npm run test:cluster`.
 *
 * @example
 *   const client = await startRemoteClient(net.host("client"));
 *   await startNatsCluster(3, { hosts, reach: client });
 *   await client.subscribe(edges, channel, 6, {}); await client.publish(edges, channel, {});
 *   const { publishes, subscribers } = await client.snapshot();
 *   await client.stop();
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import type { ChatMessage } from "../../src/message";
import type { PublisherOptions, PublishRecord, SubscriberEvent, SubscriberOptions } from "./failover-client";
import { type ProcessHost, ROOT } from "./node-process";
import type { Reach } from "./reach";

/** What the client host does on request. */
export interface ClientHostApi extends Reach {
	/** Opens `count` subscribers, spread over the edges (subscriber i starts on edge i mod n); resolves once all are open. */
	subscribe(edges: string[], channel: string, count: number, options: SubscriberOptions): Promise<void>;
	/** Starts the publisher. */
	publish(edges: string[], channel: string, options: PublisherOptions): Promise<void>;
	stopPublisher(): Promise<void>;
	/** Everything recorded so far. */
	snapshot(): Promise<{ publishes: PublishRecord[]; subscribers: SubscriberEvent[][] }>;
	/** Every message the channel's history holds, read from `edge`. */
	history(edge: string, channel: string): Promise<ChatMessage[]>;
}

export interface RemoteClient extends ClientHostApi {
	stop(): Promise<void>;
}

export interface CallLine {
	id: number;
	method: keyof ClientHostApi;
	params: unknown[];
}

export type AnswerLine = { id: number; result: unknown } | { id: number; error: string };

export const CLIENT_HOST_PROGRAM = path.join(ROOT, "dist/test/cluster/client-host.js");

export async function startRemoteClient(host: ProcessHost): Promise<RemoteClient> {
	if (!fs.existsSync(CLIENT_HOST_PROGRAM)) throw new Error(`${CLIENT_HOST_PROGRAM} is not built: run npm run test:cluster`);
	const child: ChildProcess = host.spawn(process.execPath, [CLIENT_HOST_PROGRAM], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
	const { stdin, stdout, stderr } = child;
	if (!stdin || !stdout || !stderr) throw new Error("client host: no pipes");
	let errors = "";
	stderr.on("data", (chunk: Buffer) => {
		errors += chunk.toString();
	});
	const waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
	let nextId = 1;
	readline.createInterface({ input: stdout }).on("line", line => {
		const answer = JSON.parse(line) as AnswerLine;
		const call = waiting.get(answer.id);
		waiting.delete(answer.id);
		if ("error" in answer) call?.reject(new Error(`client host: ${answer.error}`));
		else call?.resolve(answer.result);
	});
	const exited = new Promise<void>(resolve =>
		child.once("exit", code => {
			for (const call of waiting.values()) call.reject(new Error(`client host exited (${code}):\n${errors}`));
			waiting.clear();
			resolve();
		}),
	);
	const call = <T>(method: keyof ClientHostApi, ...params: unknown[]): Promise<T> =>
		new Promise<T>((resolve, reject) => {
			const id = nextId++;
			waiting.set(id, { resolve: value => resolve(value as T), reject });
			stdin.write(`${JSON.stringify({ id, method, params } satisfies CallLine)}\n`);
		});
	return {
		mqttAnswers: url => call("mqttAnswers", url),
		tcpOpen: (address, port) => call("tcpOpen", address, port),
		redis: (node, args) => call("redis", node, args),
		subscribe: (edges, channel, count, options) => call("subscribe", edges, channel, count, options),
		publish: (edges, channel, options) => call("publish", edges, channel, options),
		stopPublisher: () => call("stopPublisher"),
		snapshot: () => call("snapshot"),
		history: (edge, channel) => call("history", edge, channel),
		async stop() {
			stdin.end();
			const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
			await exited;
			clearTimeout(timer);
		},
	};
}
