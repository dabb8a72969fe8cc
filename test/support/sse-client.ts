/**
 * A test SSE client: real HTTP, and the `eventsource-parser` package to parse the stream
 * (no string matching on the wire format).
 *
 * @example
 *   const stream = await openStream(`${edge.baseUrl}/api/channels/${c}/events`, { lastEventId: 3 });
 *   await stream.waitForMessages(5);
 *   stream.messages.map(m => m.seq); // [4, 5, 6, 7, 8]
 *   stream.close();
 */
import http from "node:http";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { ChatMessage } from "../../src/message";
import { waitFor } from "./node-process";

export interface TestStream {
	status: number;
	headers: http.IncomingHttpHeaders;
	/** Every event, in arrival order. */
	events: EventSourceMessage[];
	/** Parsed `message` events. */
	messages: ChatMessage[];
	/** The last `retry:` the server sent. */
	retry?: number;
	/** True once the server ended the stream. */
	ended: boolean;
	waitForMessages(count: number, timeoutMs?: number): Promise<ChatMessage[]>;
	waitForEvent(type: string, timeoutMs?: number): Promise<EventSourceMessage>;
	close(): void;
}

export function openStream(url: string, options: { lastEventId?: number | string } = {}): Promise<TestStream> {
	return new Promise((resolve, reject) => {
		const headers: Record<string, string> = { Accept: "text/event-stream" };
		if (options.lastEventId !== undefined) headers["Last-Event-ID"] = String(options.lastEventId);
		const req = http.get(url, { headers }, res => {
			const stream: TestStream = {
				status: res.statusCode ?? 0,
				headers: res.headers,
				events: [],
				messages: [],
				ended: false,
				waitForMessages: (count, timeoutMs = 10_000) =>
					waitFor(() => stream.messages.length >= count && stream.messages, timeoutMs, `${count} messages (have ${stream.messages.length})`),
				waitForEvent: (type, timeoutMs = 10_000) =>
					waitFor(() => stream.events.find(e => (e.event ?? "message") === type), timeoutMs, `event ${type}`),
				close: () => { req.destroy(); },
			};
			const parser = createParser({
				onEvent: event => {
					stream.events.push(event);
					if (event.event === "message") stream.messages.push(JSON.parse(event.data) as ChatMessage);
				},
				onRetry: ms => { stream.retry = ms; },
			});
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => parser.feed(chunk));
			res.on("end", () => { stream.ended = true; });
			res.on("close", () => { stream.ended = true; });
			res.on("error", () => { stream.ended = true; });
			resolve(stream);
		});
		req.on("error", reject);
	});
}
