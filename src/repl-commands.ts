/**
 * The operator REPL's Chatcast commands (`npm run repl`, wired in `src/bin/repl.ts`), as plain functions
 * over the actions they call, so they run the same in the REPL and in tests. Each takes the words typed
 * after the command's name and resolves with the text to print; bad input throws (`formatError` words it).
 *
 * @example
 *   const call: CallAction = (action, params) => broker.call(action, params);
 *   console.log(await historyCommand(call, [channel, "2"]));
 *   // #41 2026-05-04T09:30:00.000Z ada: hello
 *   // #42 2026-05-04T09:30:02.000Z system: maintenance at 10:00
 */
import type { ChannelBus } from "./channel-bus";
import { HISTORY_PAGE_MAX } from "./contract";
import type { HistoryPage } from "./history-store";
import { parseChannel, RESERVED_AUTHOR, type ChatMessage } from "./message";

/** Calls a Moleculer action, e.g. `(action, params) => broker.call(action, params)`. */
export type CallAction = <T>(action: string, params: Record<string, unknown>) => Promise<T>;

/** What the commands need of the REPL besides actions. */
export interface OperatorIO {
	call: CallAction;
	/** Shows the question and resolves with the operator's answer line ("" when Ctrl-C cancels it). */
	ask(question: string): Promise<string>;
	/** Resolves when the operator ends a tail (Enter or Ctrl-C). */
	untilStopped(): Promise<void>;
	tail: ChannelTail;
}

/** One REPL command: its commander syntax (shown by `help`) and what it does with the words typed after it. */
export interface OperatorCommand {
	syntax: string;
	description: string;
	run(words: string[]): Promise<string>;
}

/** The author of messages sent with `say`. */
export const SYSTEM_AUTHOR = RESERVED_AUTHOR;
const DEFAULT_HISTORY_COUNT = 20;
const YES_FLAGS = ["-y", "--yes"];

const SYNTAX = {
	channels: "channels",
	subscribers: "subscribers <channel>",
	history: "history <channel> [n]",
	say: "say <channel> <text...>",
	purge: "purge <channel> [-y|--yes]",
	tail: "tail <channel>",
} as const;

/** Wrong number or shape of words; its message is the command's usage. */
class UsageError extends Error {
	constructor(syntax: string, detail = "") {
		super(`Usage: ${syntax}${detail ? ` (${detail})` : ""}`);
		this.name = "UsageError";
	}
}

/**
 * Chatcast's commands over `io`, for moleculer-repl's `customCommands`.
 *
 * @example
 *   operatorCommands(io).map(c => c.syntax); // ["channels", "subscribers <channel>", …]
 */
export function operatorCommands(io: OperatorIO): OperatorCommand[] {
	return [
		{
			syntax: SYNTAX.channels,
			description: "Active channels and their subscribers over all edges",
			run: words => channelsCommand(io.call, words),
		},
		{
			syntax: SYNTAX.subscribers,
			description: "A channel's subscribers per edge node and its last seq",
			run: words => subscribersCommand(io.call, words),
		},
		{
			syntax: SYNTAX.history,
			description: `The channel's last n messages (default ${DEFAULT_HISTORY_COUNT}, at most ${HISTORY_PAGE_MAX})`,
			run: words => historyCommand(io.call, words),
		},
		{ syntax: SYNTAX.say, description: `Publish a message as "${SYSTEM_AUTHOR}"`, run: words => sayCommand(io.call, words) },
		// The flag is not declared to commander: purgeCommand reads it from the words.
		{
			syntax: "purge <channel>",
			description: "Delete the channel's history after a y/N question (-y or --yes: no question)",
			run: words => purgeCommand(io, words),
		},
		{
			syntax: SYNTAX.tail,
			description: "Print the channel's live messages until Enter or Ctrl-C",
			run: words => tailCommand(io, words),
		},
	];
}

/**
 * `channels`: every channel with subscribers, most subscribed first.
 *
 * @example
 *   await channelsCommand(call, []);
 *   // channel                               subscribers
 *   // c3743620-cc30-11e6-9d9d-cec0c932ce01            3
 */
export async function channelsCommand(call: CallAction, words: string[]): Promise<string> {
	expectWordCount(words, 0, 0, SYNTAX.channels);
	const channels = await call<Array<{ channel: string; subscribers: number }>>("broadcast.channels", {});
	if (channels.length === 0) return "No channel has subscribers.";
	return formatTable(
		["channel", "subscribers"],
		channels.map(c => [c.channel, String(c.subscribers)]),
	);
}

/**
 * `subscribers <channel>`: the channel's subscribers per edge node.
 *
 * @example
 *   await subscribersCommand(call, [channel]);
 *   // c3743620-…: 3 subscribers, last seq 42
 *   // node    subscribers
 *   // edge-1            2
 *   // edge-2            1
 */
export async function subscribersCommand(call: CallAction, words: string[]): Promise<string> {
	expectWordCount(words, 1, 1, SYNTAX.subscribers);
	const summary = await call<{ channel: string; lastSeq: number; subscribers: number; byNode: Record<string, number> }>(
		"broadcast.channel",
		{ channel: parseChannel(words[0]) },
	);
	const headline = `${summary.channel}: ${pluralize(summary.subscribers, "subscriber")}, last seq ${summary.lastSeq}`;
	const nodes = Object.entries(summary.byNode).sort(([a], [b]) => a.localeCompare(b));
	if (nodes.length === 0) return headline;
	return `${headline}\n${formatTable(
		["node", "subscribers"],
		nodes.map(([node, n]) => [node, String(n)]),
	)}`;
}

/**
 * `history <channel> [n]`: the last n messages, oldest first. Asks for the last seq first (limit 0),
 * then reads from `lastSeq - n`.
 *
 * @example
 *   await historyCommand(call, [channel, "2"]);
 *   // #41 2026-05-04T09:30:00.000Z ada: hello
 *   // #42 2026-05-04T09:30:02.000Z system: maintenance at 10:00
 */
export async function historyCommand(call: CallAction, words: string[]): Promise<string> {
	expectWordCount(words, 1, 2, SYNTAX.history);
	const channel = parseChannel(words[0]);
	const wanted = words[1] === undefined ? DEFAULT_HISTORY_COUNT : Number(words[1]);
	if (!Number.isInteger(wanted) || wanted < 1 || wanted > HISTORY_PAGE_MAX) {
		throw new UsageError(SYNTAX.history, `n is a whole number from 1 to ${HISTORY_PAGE_MAX}`);
	}
	const { lastSeq } = await call<HistoryPage>("history.range", { channel, limit: 0 });
	const page = await call<HistoryPage>("history.range", { channel, after: Math.max(0, lastSeq - wanted), limit: wanted });
	if (page.messages.length === 0) return `No messages retained in ${channel} (last seq ${lastSeq}).`;
	return page.messages.map(formatMessage).join("\n");
}

/**
 * `say <channel> <text…>`: publishes the words, joined by single spaces, as author `system`.
 *
 * @example
 *   await sayCommand(call, [channel, "maintenance", "at", "10:00"]);
 *   // Published in c3743620-…: #43 2026-05-04T09:31:00.000Z system: maintenance at 10:00
 */
export async function sayCommand(call: CallAction, words: string[]): Promise<string> {
	expectWordCount(words, 2, Infinity, SYNTAX.say);
	const [channel, ...text] = words;
	const message = await call<ChatMessage>("ingest.publish", {
		channel: parseChannel(channel),
		text: text.join(" "),
		author: SYSTEM_AUTHOR,
	});
	return `Published in ${message.channel}: ${formatMessage(message)}`;
}

/**
 * `purge <channel> [-y|--yes]`: deletes the channel's history once the operator answers y (or at once
 * with -y/--yes). seq keeps counting afterwards.
 *
 * @example
 *   await purgeCommand({ call, ask: async () => "y" }, [channel]);
 *   // Purged 42 messages of c3743620-….
 */
export async function purgeCommand(io: Pick<OperatorIO, "call" | "ask">, words: string[]): Promise<string> {
	const yes = words.some(word => YES_FLAGS.includes(word));
	const rest = words.filter(word => !YES_FLAGS.includes(word));
	expectWordCount(rest, 1, 1, SYNTAX.purge);
	const channel = parseChannel(rest[0]);
	if (!yes) {
		const page = await io.call<HistoryPage>("history.range", { channel, limit: 0 });
		const retained = pluralize(page.lastSeq - page.oldestSeq + 1, "retained message");
		const answer = await io.ask(`Delete the ${retained} of ${channel}? [y/N] `);
		if (!/^y(es)?$/i.test(answer.trim())) return "Not purged.";
	}
	const { purged } = await io.call<{ purged: number }>("history.purge", { channel });
	return `Purged ${pluralize(purged, "message")} of ${channel}.`;
}

/**
 * `tail <channel>`: prints the channel's live messages until `io.untilStopped()` resolves.
 *
 * @example
 *   await tailCommand(io, [channel]);
 *   // Tailing c3743620-… (Enter or Ctrl-C stops).
 *   // #44 2026-05-04T09:32:00.000Z ada: still there?
 *   // → "Stopped tailing c3743620-…."
 */
export async function tailCommand(io: Pick<OperatorIO, "tail" | "untilStopped">, words: string[]): Promise<string> {
	expectWordCount(words, 1, 1, SYNTAX.tail);
	const channel = parseChannel(words[0]);
	await io.tail.follow(channel);
	try {
		await io.untilStopped();
	} finally {
		io.tail.stop();
	}
	return `Stopped tailing ${channel}.`;
}

/**
 * Prints the live messages of the channel being tailed, and nothing else. It joins the channel on the
 * channel bus while it follows it, so the REPL receives only that channel's messages.
 *
 * @example
 *   const tail = new ChannelTail(line => console.log(line), channelBus);
 *   await tail.follow(channel);   // prints "Tailing …", then each message of `channel` from the bus
 *   tail.stop();
 */
export class ChannelTail {
	private channel: string | undefined;

	constructor(
		private readonly print: (line: string) => void,
		private readonly bus: Pick<ChannelBus, "join" | "leave" | "listen">,
	) {
		bus.listen({ message: message => this.deliver(message), resubscribed: () => undefined });
	}

	/** Resolves once the channel's messages reach this process. */
	async follow(channel: string): Promise<void> {
		this.stop();
		await this.bus.join(channel);
		this.channel = channel;
		this.print(`Tailing ${channel} (Enter or Ctrl-C stops).`);
	}

	stop(): void {
		if (this.channel !== undefined) this.bus.leave(this.channel);
		this.channel = undefined;
	}

	private deliver(message: ChatMessage): void {
		if (message.channel === this.channel) this.print(formatMessage(message));
	}
}

/**
 * One line for an error: the usage for a usage error, else the message and the Moleculer error type.
 *
 * @example
 *   formatError(chatError("INVALID_CHANNEL")); // "Error: The channel must be a UUID. (INVALID_CHANNEL)"
 */
export function formatError(err: unknown): string {
	if (err instanceof UsageError) return err.message;
	const { message, type } = (err ?? {}) as { message?: unknown; type?: unknown };
	const text = typeof message === "string" && message !== "" ? message : String(err);
	return typeof type === "string" && type !== "" ? `Error: ${text} (${type})` : `Error: ${text}`;
}

/**
 * A message as one line: `#seq sentAt author: text`. Control and direction characters in the text are
 * escaped, so no message can move the cursor, recolour or reorder the operator's terminal.
 *
 * @example
 *   formatMessage(message); // "#7 2026-05-04T09:30:00.000Z ada: two\nlines"  (a literal backslash-n)
 */
export function formatMessage(message: ChatMessage): string {
	return `#${message.seq} ${message.sentAt} ${message.author}: ${escapeControls(message.text)}`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it escapes
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeControls(text: string): string {
	return text.replace(CONTROLS, c => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function expectWordCount(words: string[], min: number, max: number, syntax: string): void {
	if (words.length < min || words.length > max) throw new UsageError(syntax);
}

/** "1 message", "3 messages". */
function pluralize(n: number, noun: string): string {
	return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** Columns separated by two spaces; the first left-aligned, the others (numbers) right-aligned. */
function formatTable(header: string[], rows: string[][]): string {
	const lines = [header, ...rows];
	const widths = header.map((_, column) => Math.max(...lines.map(cells => cells[column].length)));
	return lines
		.map(cells =>
			cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join("  "),
		)
		.join("\n");
}
