/**
 * Clients of a Chatcast cluster that has several edges, as real clients behind a failing network behave:
 *
 * - FailoverPublisher publishes one message after another, round robin over the edges. A request that
 *   gets no answer (connection refused or reset, or no answer within `requestTimeoutMs`) is sent again,
 *   with the same clientMsgId, to the next edge; the edge that failed is left out until it answers
 *   `GET /api/health` again (probed in the background). Every message's outcome is recorded.
 * - FailoverSubscriber holds one stream. When it ends, fails, or goes silent for `staleMs` (the edges send
 *   heartbeats), it reconnects to the next edge with Last-Event-ID, and follows `reset` like the demo
 *   page (public/stream.js). Everything it receives is recorded, in arrival order.
 *
 * @example
 *   const publisher = new FailoverPublisher(edges, channel); publisher.start();
 *   const subscriber = new FailoverSubscriber(edges, channel, 1); await subscriber.start();
 *   …; await publisher.stop(); subscriber.stop();
 *   publisher.records; subscriber.events;
 */
import type { ChatMessage } from "../../src/message";
import { openStream } from "./sse-client";

/** One message's fate: the answer of its last attempt (status 0: no edge answered). */
export interface PublishRecord {
	clientMsgId: string;
	sentAt: number;
	answeredAt: number;
	status: number;
	/** The error's `type` of a non-2xx answer (e.g. OUTCOME_UNKNOWN). */
	type?: string;
	/** How many edges it was sent to (more than 1: it failed over). */
	attempts: number;
	id?: string;
	seq?: number;
	epoch?: string;
}

export type SubscriberEvent =
	| { kind: "message"; at: number; id: string; clientMsgId?: string; seq: number; epoch: string }
	| { kind: "reset"; at: number; epoch: string; oldestSeq: number }
	| { kind: "open"; at: number; edge: string }
	| { kind: "drop"; at: number; edge: string; why: "ended" | "silent" | "refused" };

export interface PublisherOptions {
	/** Pause after each answer. */
	pauseMs?: number;
	requestTimeoutMs?: number;
	/** How often an edge that failed is probed. */
	probeMs?: number;
}

export class FailoverPublisher {
	readonly records: PublishRecord[] = [];
	private readonly down = new Set<string>();
	private next = 0;
	private running = false;
	private loop: Promise<void> = Promise.resolve();
	private readonly options: Required<PublisherOptions>;

	constructor(
		private readonly edges: readonly string[],
		private readonly channel: string,
		options: PublisherOptions = {},
	) {
		this.options = { pauseMs: 25, requestTimeoutMs: 2500, probeMs: 500, ...options };
	}

	start(): void {
		this.running = true;
		this.loop = (async () => {
			while (this.running) {
				this.records.push(await this.publish(`m${this.records.length + 1}`));
				await sleep(this.options.pauseMs);
			}
		})();
	}

	async stop(): Promise<void> {
		this.running = false;
		await this.loop;
	}

	private async publish(clientMsgId: string): Promise<PublishRecord> {
		const sentAt = Date.now();
		for (let attempts = 1; attempts <= this.edges.length; attempts++) {
			const edge = this.pick();
			const answer = await this.send(edge, clientMsgId);
			if (answer) return { clientMsgId, sentAt, answeredAt: Date.now(), attempts, ...answer };
			this.leaveOut(edge);
		}
		return { clientMsgId, sentAt, answeredAt: Date.now(), status: 0, attempts: this.edges.length };
	}

	/** The next edge in turn that is not left out (any, when all are). */
	private pick(): string {
		for (let i = 0; i < this.edges.length; i++) {
			const edge = this.edges[this.next++ % this.edges.length];
			if (!this.down.has(edge)) return edge;
		}
		return this.edges[this.next++ % this.edges.length];
	}

	private async send(
		edge: string,
		clientMsgId: string,
	): Promise<Omit<PublishRecord, "clientMsgId" | "sentAt" | "answeredAt" | "attempts"> | undefined> {
		try {
			const res = await fetch(`${edge}/api/channels/${this.channel}/messages`, {
				method: "POST",
				headers: { "Content-Type": "application/json" },
				body: JSON.stringify({ text: `text of ${clientMsgId}`, author: "publisher", clientMsgId }),
				signal: AbortSignal.timeout(this.options.requestTimeoutMs),
			});
			const body = (await res.json()) as Partial<ChatMessage> & { type?: string };
			return res.ok
				? { status: res.status, id: body.id, seq: body.seq, epoch: body.epoch }
				: { status: res.status, type: body.type };
		} catch {
			return undefined;
		}
	}

	/** Out of the rotation until its health endpoint answers again. */
	private leaveOut(edge: string): void {
		if (this.down.has(edge)) return;
		this.down.add(edge);
		void (async () => {
			while (this.running && this.down.has(edge)) {
				await sleep(this.options.probeMs);
				const res = await fetch(`${edge}/api/health`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
				if (res?.ok) this.down.delete(edge);
			}
		})();
	}
}

export interface SubscriberOptions {
	/** Silence (no event, no heartbeat) after which the stream counts as dead. */
	staleMs?: number;
	/** How long a stream may take to open. */
	connectTimeoutMs?: number;
	retryMs?: number;
}

export class FailoverSubscriber {
	readonly events: SubscriberEvent[] = [];
	private lastSeq = 0;
	/** The count lastSeq is of: resumes send `<epoch>.<seq>`, the stream's own ids. */
	private epoch = "";
	private stopped = false;
	private abort: AbortController | undefined;
	private readonly options: Required<SubscriberOptions>;

	constructor(
		private readonly edges: readonly string[],
		private readonly channel: string,
		/** The edge it connects to first. */
		private current: number,
		options: SubscriberOptions = {},
	) {
		this.options = { staleMs: 3000, connectTimeoutMs: 2000, retryMs: 100, ...options };
	}

	/** Resolves once the first stream is open. */
	start(): Promise<void> {
		return new Promise(resolve => void this.run(resolve));
	}

	stop(): void {
		this.stopped = true;
		this.abort?.abort();
	}

	private async run(opened: () => void): Promise<void> {
		while (!this.stopped) {
			const edge = this.edges[this.current % this.edges.length];
			const why = await this.follow(edge, opened);
			if (this.stopped) return;
			this.events.push({ kind: "drop", at: Date.now(), edge, why });
			this.current++;
			await sleep(this.options.retryMs);
		}
	}

	/** One stream from `edge`, until it ends; says why it did. */
	private async follow(edge: string, opened: () => void): Promise<"ended" | "silent" | "refused"> {
		const abort = new AbortController();
		this.abort = abort;
		const connectTimer = setTimeout(() => abort.abort(), this.options.connectTimeoutMs);
		let ended: () => void = () => undefined;
		const end = new Promise<void>(resolve => {
			ended = resolve;
		});
		const stream = await openStream(`${edge}/api/channels/${this.channel}/events`, {
			lastEventId: this.epoch ? `${this.epoch}.${this.lastSeq}` : this.lastSeq,
			signal: abort.signal,
			onMessage: message => this.receive(message),
			onEvent: event => {
				if (event.event === "reset") this.reset(JSON.parse(event.data) as { epoch: string; oldestSeq: number });
			},
			onEnd: () => ended(),
		}).catch(() => undefined);
		clearTimeout(connectTimer);
		if (stream?.status !== 200) {
			stream?.close();
			return "refused";
		}
		this.events.push({ kind: "open", at: Date.now(), edge });
		opened();
		let seen = -1;
		let seenAt = Date.now();
		let silent = false;
		const watch = setInterval(() => {
			const now = stream.events.length + stream.comments;
			if (now !== seen) {
				seen = now;
				seenAt = Date.now();
			} else if (Date.now() - seenAt > this.options.staleMs) {
				silent = true;
				abort.abort();
			}
		}, 200);
		if (!stream.ended) await end;
		clearInterval(watch);
		return silent ? "silent" : "ended";
	}

	private receive(message: ChatMessage): void {
		this.events.push({
			kind: "message",
			at: Date.now(),
			id: message.id,
			clientMsgId: message.clientMsgId,
			seq: message.seq,
			epoch: message.epoch,
		});
		this.lastSeq = Math.max(this.lastSeq, message.seq);
		this.epoch = message.epoch;
	}

	/** As the demo page: the server goes on right before `oldestSeq`. */
	private reset(info: { epoch: string; oldestSeq: number }): void {
		this.events.push({ kind: "reset", at: Date.now(), epoch: info.epoch, oldestSeq: info.oldestSeq });
		this.lastSeq = Math.max(0, info.oldestSeq - 1);
		this.epoch = info.epoch;
	}
}

function sleep(ms: number): Promise<void> {
	return new Promise(resolve => setTimeout(resolve, ms));
}
