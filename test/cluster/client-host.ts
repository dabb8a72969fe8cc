/**
 * The program of test/support/remote-client.ts: runs on the client host of a multi-host test, answers
 * one JSON line per call on stdout, and exits when its stdin closes.
 */
import readline from "node:readline";
import type { ChatMessage } from "../../src/message";
import { FailoverPublisher, FailoverSubscriber } from "../support/failover-client";
import { localReach } from "../support/reach";
import type { AnswerLine, CallLine, ClientHostApi } from "../support/remote-client";

const subscribers: FailoverSubscriber[] = [];
let publisher: FailoverPublisher | undefined;

const api: ClientHostApi = {
	...localReach,
	async subscribe(edges, channel, count, options) {
		const opened = Array.from({ length: count }, (_, i) => new FailoverSubscriber(edges, channel, i, options));
		subscribers.push(...opened);
		await Promise.all(opened.map(s => s.start()));
	},
	async publish(edges, channel, options) {
		publisher = new FailoverPublisher(edges, channel, options);
		publisher.start();
	},
	async stopPublisher() {
		await publisher?.stop();
	},
	async snapshot() {
		return { publishes: publisher?.records ?? [], subscribers: subscribers.map(s => s.events) };
	},
	async history(edge, channel) {
		const messages: ChatMessage[] = [];
		for (;;) {
			const after = messages.at(-1)?.seq ?? 0;
			const res = await fetch(`${edge}/api/channels/${channel}/messages?after=${after}&limit=500`);
			if (!res.ok) throw new Error(`history from ${edge}: ${res.status}`);
			const page = (await res.json()) as { messages: ChatMessage[] };
			if (page.messages.length === 0) return messages;
			messages.push(...page.messages);
		}
	},
};

readline.createInterface({ input: process.stdin }).on("line", line => {
	const { id, method, params } = JSON.parse(line) as CallLine;
	const answer = (body: { result: unknown } | { error: string }): void => {
		process.stdout.write(`${JSON.stringify({ id, ...body } satisfies AnswerLine)}\n`);
	};
	Promise.resolve(Reflect.apply(api[method], api, params) as unknown).then(
		result => answer({ result: result ?? null }),
		(err: Error) => answer({ error: err.message }),
	);
});
process.stdin.on("end", async () => {
	for (const s of subscribers) s.stop();
	await publisher?.stop();
	process.exit(0);
});
