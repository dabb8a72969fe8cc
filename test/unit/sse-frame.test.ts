import { createParser, type EventSourceMessage } from "eventsource-parser";
import { sseComment, sseEvent, sseRetry } from "../../src/sse-frame";

/** Parses SSE text with a real parser. */
function parse(text: string): { events: EventSourceMessage[]; retry?: number } {
	const events: EventSourceMessage[] = [];
	let retry: number | undefined;
	const parser = createParser({
		onEvent: e => events.push(e),
		onRetry: ms => {
			retry = ms;
		},
	});
	parser.feed(text);
	return { events, retry };
}

describe("SSE framing", () => {
	const hostile = [
		"line one\nline two",
		"carriage\rreturn",
		"windows\r\nline",
		"\n\n\n",
		'text\n\nevent: reset\ndata: {"oldestSeq":1}\n\n',
		"id: 999\nretry: 1\n:comment\ndata: injected",
		"ends with newline\n",
		"\r\n\r\nevent: x\r\n",
		"",
	];

	test.each(hostile)("data %j is exactly one event with the same data", data => {
		const { events, retry } = parse(sseEvent({ id: 7, event: "message", data }));
		expect(events).toHaveLength(1);
		expect(events[0]).toEqual({ id: "7", event: "message", data: data.replace(/\r\n|\r/g, "\n") });
		expect(retry).toBeUndefined();
	});

	test("several frames in one chunk stay separate", () => {
		const text = sseEvent({ id: 1, data: "a\nb" }) + sseComment("ping") + sseEvent({ id: 2, event: "reset", data: "c" });
		expect(parse(text).events).toEqual([
			{ id: "1", event: undefined, data: "a\nb" },
			{ id: "2", event: "reset", data: "c" },
		]);
	});

	test("id and event name refuse line breaks and NUL", () => {
		expect(() => sseEvent({ id: "1\n2", data: "x" })).toThrow(TypeError);
		expect(() => sseEvent({ id: "1\u00002", data: "x" })).toThrow(TypeError);
		expect(() => sseEvent({ event: "message\rdata: x", data: "x" })).toThrow(TypeError);
	});

	test("a comment never becomes an event, even with line breaks in it", () => {
		expect(parse(sseComment("hi\ndata: sneaky\n")).events).toEqual([]);
	});

	test("retry hint", () => {
		expect(parse(sseRetry(250)).retry).toBe(250);
	});
});
