/**
 * The operator REPL's commands through the real actions they call: one in-process broker running the
 * real history (in memory), ingest and broadcast services and the REPL's tail, all on one in-process channel bus. Streams are
 * opened on the broadcast service with in-memory responses.
 */
import { randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import { ServiceBroker } from "moleculer";
import { localBroadcast } from "../../services/broadcast.service";
import { createBroadcastService, createHistoryService, createIngestService } from "../../services";
import { LocalChannelBus } from "../../src/channel-bus";
import { loadConfig } from "../../src/config";
import type { HistoryPage } from "../../src/history-store";
import type { ChatMessage } from "../../src/message";
import {
	ChannelTail,
	formatError,
	formatMessage,
	operatorCommands,
	type CallAction,
	type OperatorIO,
} from "../../src/repl-commands";
import { waitFor } from "../support/node-process";

/** An SSE response that nobody reads, its own socket: enough for the broadcast service to count a subscriber. */
class ResponseSink extends PassThrough {
	useChunkedEncodingByDefault = true;
	get socket(): this {
		return this;
	}
	writeHead(): this {
		return this;
	}
	flushHeaders(): void {}
	setNoDelay(): this {
		return this;
	}
	setTimeout(): this {
		return this;
	}
}

const broker = new ServiceBroker({ logger: false, nodeID: `repl-unit-${randomUUID().slice(0, 6)}` });
const call: CallAction = (action, params) => broker.call(action, params);
const tailed: string[] = [];
/** One process: ingest hands every message to this node's listeners (the hub and the tail) in-process. */
const bus = new LocalChannelBus();
const tail = new ChannelTail(line => tailed.push(line), bus);

/** Defaults, history in memory. */
const config = loadConfig({});
broker.createService(createHistoryService(config));
broker.createService(createIngestService(config, bus));
broker.createService(createBroadcastService(config, bus));

beforeAll(() => broker.start());
afterAll(() => broker.stop());
beforeEach(() => {
	tailed.length = 0;
});

/** Runs a command line as the REPL does: the first word names the command, the others are its words. */
function operator(overrides: Partial<OperatorIO> = {}): (line: string) => Promise<string> {
	const io: OperatorIO = {
		call,
		ask: question => Promise.reject(new Error(`unexpected question: ${question}`)),
		untilStopped: () => Promise.resolve(),
		tail,
		...overrides,
	};
	const commands = operatorCommands(io);
	return line => {
		const [name, ...words] = line.split(" ");
		const command = commands.find(c => c.syntax.split(" ")[0] === name);
		if (!command) throw new Error(`no command ${name}`);
		return command.run(words);
	};
}

const run = operator();

async function publish(channel: string, count: number): Promise<ChatMessage[]> {
	const sent: ChatMessage[] = [];
	for (let i = 1; i <= count; i++)
		sent.push(await call<ChatMessage>("ingest.publish", { channel, text: `m${i}`, author: "ada" }));
	return sent;
}

async function openStreams(channel: string, count: number): Promise<ResponseSink[]> {
	const broadcast = localBroadcast(broker);
	if (!broadcast) throw new Error("no broadcast service");
	const sinks: ResponseSink[] = [];
	for (let i = 0; i < count; i++) {
		const sink = new ResponseSink();
		sink.resume();
		await broadcast.openStream(sink, channel, {});
		sinks.push(sink);
	}
	return sinks;
}

const historyOf = (channel: string): Promise<HistoryPage> => call<HistoryPage>("history.range", { channel, limit: 500 });

describe("say", () => {
	test("publishes the words as author system and prints the stored message", async () => {
		const channel = randomUUID();
		const output = await run(`say ${channel.toUpperCase()} maintenance at 10:00`);
		const [stored] = (await historyOf(channel)).messages;
		expect(stored).toMatchObject({ seq: 1, channel, author: "system", text: "maintenance at 10:00" });
		expect(output).toBe(`Published in ${channel}: #1 ${stored.sentAt} system: maintenance at 10:00`);
	});

	test("without text it prints the usage and publishes nothing", async () => {
		const channel = randomUUID();
		await expect(run(`say ${channel}`)).rejects.toThrow("Usage: say <channel> <text...>");
		expect((await historyOf(channel)).lastSeq).toBe(0);
	});
});

describe("history", () => {
	test("shows the last n messages, oldest first; 20 by default", async () => {
		const channel = randomUUID();
		const sent = await publish(channel, 25);
		expect(await run(`history ${channel} 3`)).toBe(sent.slice(-3).map(formatMessage).join("\n"));
		expect((await run(`history ${channel}`)).split("\n")).toEqual(sent.slice(-20).map(formatMessage));
		expect(await run(`history ${channel} 500`)).toBe(sent.map(formatMessage).join("\n"));
	});

	test("says when nothing is retained, and rejects a bad n or channel", async () => {
		const channel = randomUUID();
		expect(await run(`history ${channel}`)).toBe(`No messages retained in ${channel} (last seq 0).`);
		for (const n of ["0", "501", "2.5", "ten"]) {
			await expect(run(`history ${channel} ${n}`)).rejects.toThrow(
				"Usage: history <channel> [n] (n is a whole number from 1 to 500)",
			);
		}
		const invalid = await run("history not-a-uuid").catch(formatError);
		expect(invalid).toBe("Error: The channel must be a UUID. (INVALID_CHANNEL)");
	});
});

describe("channels and subscribers", () => {
	test("list subscriber counts over the broadcast service's presence, most subscribed first", async () => {
		const [busy, quiet] = [randomUUID(), randomUUID()];
		const sinks = [...(await openStreams(quiet, 1)), ...(await openStreams(busy, 2))];
		await publish(busy, 2);
		try {
			const channels = await run("channels");
			expect(channels.split("\n")).toEqual([
				"channel                               subscribers",
				`${busy}            2`,
				`${quiet}            1`,
			]);
			expect(await run(`subscribers ${busy}`)).toBe(
				`${busy}: 2 subscribers, last seq 2\n` +
					`${"node".padEnd(broker.nodeID.length)}  subscribers\n` +
					`${broker.nodeID}  ${"2".padStart(11)}`,
			);
		} finally {
			for (const sink of sinks) sink.destroy();
		}
		await waitFor(async () => (await run("channels")) === "No channel has subscribers.", 5000, "streams to close");
		expect(await run(`subscribers ${busy}`)).toBe(`${busy}: 0 subscribers, last seq 2`);
	});

	test("take no extra words", async () => {
		await expect(run("channels now")).rejects.toThrow("Usage: channels");
		await expect(run("subscribers")).rejects.toThrow("Usage: subscribers <channel>");
	});
});

describe("purge", () => {
	test("deletes the history only when the question is answered yes; seq keeps counting", async () => {
		const channel = randomUUID();
		await publish(channel, 3);
		const questions: string[] = [];
		const answering = (answer: string) =>
			operator({
				ask: async question => {
					questions.push(question);
					return answer;
				},
			});

		expect(await answering("")(`purge ${channel}`)).toBe("Not purged.");
		expect(await answering("n")(`purge ${channel}`)).toBe("Not purged.");
		expect((await historyOf(channel)).messages).toHaveLength(3);

		expect(await answering("Y")(`purge ${channel}`)).toBe(`Purged 3 messages of ${channel}.`);
		expect(questions).toEqual(Array(3).fill(`Delete the 3 retained messages of ${channel}? [y/N] `));
		expect(await historyOf(channel)).toMatchObject({ messages: [], lastSeq: 3 });
		expect((await publish(channel, 1))[0].seq).toBe(4);
	});

	test("-y or --yes purges without asking", async () => {
		const channel = randomUUID();
		await publish(channel, 2);
		expect(await run(`purge -y ${channel}`)).toBe(`Purged 2 messages of ${channel}.`);
		await publish(channel, 1);
		expect(await run(`purge ${channel} --yes`)).toBe(`Purged 1 message of ${channel}.`);
		await expect(run(`purge ${channel} --force`)).rejects.toThrow("Usage: purge <channel> [-y|--yes]");
	});
});

describe("tail", () => {
	test("prints the channel's live messages, and nothing else, until stopped", async () => {
		const [channel, other] = [randomUUID(), randomUUID()];
		let stop!: () => void;
		const tailing = operator({
			untilStopped: () =>
				new Promise<void>(resolve => {
					stop = resolve;
				}),
		})(`tail ${channel}`);
		await waitFor(() => tailed.length === 1, 5000, "the tail to join the channel");
		expect(tailed).toEqual([`Tailing ${channel} (Enter or Ctrl-C stops).`]);

		const [live] = await publish(channel, 1);
		await publish(other, 1);
		const escaped = await call<ChatMessage>("ingest.publish", { channel, text: "two\nlines \u202e[2J", author: "eve" });
		await waitFor(() => tailed.length === 3, 5000, "the tailed messages");
		stop();
		expect(await tailing).toBe(`Stopped tailing ${channel}.`);
		await publish(channel, 1);

		expect(tailed).toEqual([
			`Tailing ${channel} (Enter or Ctrl-C stops).`,
			formatMessage(live),
			`#2 ${escaped.sentAt} eve: two\\nlines \\u202e[2J`,
		]);
	});
});

describe("formatError", () => {
	test("prints the Moleculer error's message and type, never a stack", async () => {
		const missing = await call("nobody.here", {}).catch(formatError);
		expect(missing).toBe("Error: Service 'nobody.here' is not found. (SERVICE_NOT_FOUND)");
		expect(formatError(new Error("plain"))).toBe("Error: plain");
	});
});
