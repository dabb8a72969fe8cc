/**
 * A test SSE client: real HTTP, and the `eventsource-parser` package to parse the stream
 * (no string matching on the wire format).
 *
 * @example
 *   const stream = await openStream(`${edge.baseUrl}/api/channels/${c}/events`, { lastEventId: 3 });
 *   await stream.waitForMessages(5);
 *   stream.received; // [4, 5, 6, 7, 8]: every message's seq, in arrival order, duplicates included
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
	/** Parsed `message` events, in arrival order. */
	messages: ChatMessage[];
	/** The seq of each of `messages`: what expectExactlyOnce checks. */
	received: number[];
	/** The last `retry:` the server sent. */
	retry?: number;
	/** Comment lines (heartbeats) received. */
	comments: number;
	/** True once the server ended the stream. */
	ended: boolean;
	waitForMessages(count: number, timeoutMs?: number): Promise<ChatMessage[]>;
	waitForEvent(type: string, timeoutMs?: number): Promise<EventSourceMessage>;
	close(): void;
}

export interface OpenStreamOptions {
	lastEventId?: number | string;
	/** More request headers (Authorization, Cookie). */
	headers?: Record<string, string>;
	/** Called for each `message` event, as it is parsed. */
	onMessage?: (message: ChatMessage) => void;
	/** Called for every event (message, reset, presence, …), as it is parsed. */
	onEvent?: (event: EventSourceMessage) => void;
	/** Called once when the stream ends, fails or is closed. */
	onEnd?: () => void;
	/** Aborts the request, or ends the stream once open. */
	signal?: AbortSignal;
}

export function openStream(url: string, options: OpenStreamOptions = {}): Promise<TestStream> {
	return new Promise((resolve, reject) => {
		const headers: Record<string, string> = { Accept: "text/event-stream", ...options.headers };
		if (options.lastEventId !== undefined) headers["Last-Event-ID"] = String(options.lastEventId);
		const req = http.get(url, { headers, signal: options.signal }, res => {
			const stream: TestStream = {
				status: res.statusCode ?? 0,
				headers: res.headers,
				events: [],
				messages: [],
				received: [],
				comments: 0,
				ended: false,
				waitForMessages: (count, timeoutMs = 10_000) =>
					waitFor(
						() => stream.messages.length >= count && stream.messages,
						timeoutMs,
						`${count} messages (have ${stream.messages.length})`,
					),
				waitForEvent: (type, timeoutMs = 10_000) =>
					waitFor(() => stream.events.find(e => (e.event ?? "message") === type), timeoutMs, `event ${type}`),
				close: () => {
					req.destroy();
				},
			};
			const parser = createParser({
				onEvent: event => {
					stream.events.push(event);
					options.onEvent?.(event);
					if (event.event !== "message") return;
					const message = JSON.parse(event.data) as ChatMessage;
					stream.messages.push(message);
					stream.received.push(message.seq);
					options.onMessage?.(message);
				},
				onRetry: ms => {
					stream.retry = ms;
				},
				onComment: () => {
					stream.comments++;
				},
			});
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => parser.feed(chunk));
			const end = (): void => {
				if (stream.ended) return;
				stream.ended = true;
				options.onEnd?.();
			};
			res.on("end", end);
			res.on("close", end);
			res.on("error", end);
			resolve(stream);
		});
		req.on("error", reject);
	});
}

/**
 * A subscriber that behaves like EventSource: when its stream ends or fails it reconnects (to `url`,
 * which may be a load-balanced port) with Last-Event-ID, and records every seq it receives, in
 * arrival order and duplicates included, for expectExactlyOnce.
 *
 * @example
 *   const sub = new ResilientSubscriber(`${base}/api/channels/${c}/events`);
 *   await sub.start();
 *   …; sub.stop();
 *   expectExactlyOnce(sub.received, accepted);
 */
export class ResilientSubscriber {
	/** Every seq received over all its streams, in arrival order. */
	readonly received: number[] = [];
	reconnects = 0;
	/** The last event id, as EventSource keeps it: `<epoch>.<seq>`. */
	private lastEventId: string | undefined;
	private lastSeq = 0;
	private current: TestStream | undefined;
	private stopped = false;
	private retryTimer: NodeJS.Timeout | undefined;

	constructor(
		private readonly url: string,
		private readonly retryMs = 100,
	) {}

	async start(): Promise<void> {
		await this.connect();
	}

	stop(): void {
		this.stopped = true;
		clearTimeout(this.retryTimer);
		this.current?.close();
	}

	private async connect(): Promise<void> {
		while (!this.stopped) {
			let stream: TestStream | undefined;
			try {
				stream = await openStream(this.url, {
					lastEventId: this.lastEventId,
					onMessage: message => this.receive(message),
					// A stream that ends before openStream resolves is handled below, not here.
					onEnd: () => {
						if (stream !== undefined && stream === this.current) this.reconnectLater();
					},
				});
			} catch {
				// Connection refused or reset: the edge is restarting; try again like EventSource would.
			}
			if (stream?.status === 200 && !stream.ended) {
				this.current = stream;
				return;
			}
			if (stream?.status === 200) this.reconnects++; // opened and ended at once (a stopping edge)
			stream?.close();
			await new Promise(r => setTimeout(r, this.retryMs));
		}
	}

	private receive({ seq, epoch }: ChatMessage): void {
		this.received.push(seq);
		// Resume after the highest seq seen: EventSource's last id while the order holds (a disorder shows in the report).
		if (seq < this.lastSeq) return;
		this.lastSeq = seq;
		this.lastEventId = `${epoch}.${seq}`;
	}

	/** After the open stream ends: EventSource would reconnect after its retry delay. */
	private reconnectLater(): void {
		this.current = undefined;
		if (this.stopped) return;
		this.reconnects++;
		this.retryTimer = setTimeout(() => void this.connect(), this.retryMs);
	}
}
