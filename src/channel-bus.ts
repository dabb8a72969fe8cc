/**
 * Interest-based routing of stored messages: one MQTT topic per channel, `<namespace>/channel/<channelId>`.
 * A publisher (ingest, once the store accepted) publishes each message to its channel's topic; a node
 * subscribes to a channel's topic only while something on it wants the channel (the broadcast hub's
 * first stream, the REPL's tail) and unsubscribes a short linger after the last one left. So an edge
 * without subscribers for a channel receives nothing for it, and the broker's work per message grows
 * with the edges that need it, not with all edges.
 *
 * A channel no other node listens to gets no packet at all: a node that joins a channel first marks it
 * in the history store under its own `id` (`markInterest`, i.e. `history.interest`: beside the channel's
 * head, with a TTL, refreshed every INTEREST_REFRESH_MS while the node still wants it), and the store's
 * append says in the same atomic step whether a node other than the publisher marked the channel
 * (`AppendResult.listened`); `publish` sends no packet for one that is not. The publisher's own streams
 * get the message in-process either way (so a single node sends nothing it would only get back).
 *
 * Guarantees it gives the hub:
 * - `join` resolves only after the store holds the channel's mark and the broker acknowledged the
 *   subscription (SUBACK): a position read from history after it misses nothing, since every message
 *   stored later saw the mark, so it is published, and after we subscribed. (The two are asked at
 *   once: an append between the mark and the SUBACK is stored before the read, so the read has it.)
 * - After a reconnect every wanted channel is subscribed again, then listeners hear `resubscribed`
 *   (the hub re-reads history: QoS 0 packets sent meanwhile are lost, as on the transporter).
 * - The bus is a trust boundary like the transporter: every packet is sealed with CLUSTER_SECRET
 *   (`src/bus-auth.ts`, bound to the topic, so a packet of one channel cannot be replayed into another),
 *   and one that does not verify, does not parse, fails the schema (`accept`) or names another channel
 *   than its topic is dropped before any listener sees it.
 * - Listeners on the publishing node get the message in-process at once (no broker round trip); the
 *   broker's echo of our own packet is a duplicate seq, which the sequencer drops.
 *
 * QoS 0, like Moleculer's transporter: QoS 1 would double the packets (PUBACK) and add a round trip to
 * every publish, for a loss the hub already repairs from history (gap check, heads check, resync).
 *
 * @example
 *   const bus = new MqttChannelBus({ urls, secrets, namespace: "chatcast", accept: isMessage, markInterest });
 *   await bus.start();
 *   bus.listen({ message: m => hub.deliver(m), resubscribed: () => hub.resyncAll() });
 *   await bus.join(channel);          // marked and subscribed: now read the position from history
 *   bus.publish(stored.message, stored.json, stored.listened); // from ingest
 *   bus.leave(channel);               // unsubscribed after the linger, unless joined again
 */
import { randomBytes } from "node:crypto";
import { connect, type MqttClient } from "mqtt";
import { openPacket, type RejectReason, sealPacket } from "./bus-auth";
import { HEADS_BATCH_MAX } from "./contract";
import { chatError } from "./errors";
import { INTEREST_REFRESH_MS } from "./history-store";
import type { ChatMessage } from "./message";
import { mqttClientOptions } from "./mqtt-brokers";

/** What a node does with the channel messages it receives. */
export interface ChannelListener {
	message(message: ChatMessage): void;
	/** The connection came back and every wanted channel is subscribed again: packets may have been lost. */
	resubscribed(): void;
}

/**
 * The channel bus as the services see it; `LocalChannelBus` (one process, no broker) and
 * `MqttChannelBus` implement it.
 */
export interface ChannelBus {
	/**
	 * Sends a stored message to every node that joined its channel (this one included). Never throws.
	 * `json`: the message already serialized (it is sent as is), if the caller has it. `listened`: the
	 * store's word (`AppendResult.listened`); false sends no packet to other nodes (none but this one marked
	 * the channel).
	 */
	publish(message: ChatMessage, json?: string, listened?: boolean): void;
	/** This node's listener id in interest marks, for the store's appends (undefined: it writes no marks). */
	readonly id?: string;
	/** Wants a channel's messages (counted: every join needs its leave); resolves once marked and subscribed. */
	join(channel: string): Promise<void>;
	leave(channel: string): void;
	/** Adds a listener; returns the function that removes it. */
	listen(listener: ChannelListener): () => void;
	/** What it received and dropped, for `broadcast.stats` and tests. */
	stats(): ChannelBusStats;
	start(): Promise<void>;
	stop(): Promise<void>;
}

export interface ChannelBusStats {
	/** Channel topics subscribed now (lingering ones included). */
	subscribed: number;
	/** Packets that arrived from the broker (our own echo included). */
	received: number;
	/** Of those, dropped: unsealed, forged, expired, malformed, or for a channel nobody here wants. */
	dropped: number;
}

/** The topic of a channel's messages. */
export function channelTopic(namespace: string, channel: string): string {
	return `${namespace}/channel/${channel}`;
}

/** The channel a topic of this namespace names; undefined for any other topic. */
export function topicChannel(namespace: string, topic: string): string | undefined {
	const prefix = `${namespace}/channel/`;
	if (!topic.startsWith(prefix)) return undefined;
	const channel = topic.slice(prefix.length);
	return channel.length > 0 && !channel.includes("/") ? channel : undefined;
}

/** A message sealed for its channel's topic (`json`: the message serialized, if the caller has it). */
export function sealMessage(secret: string, topic: string, message: ChatMessage, now = Date.now(), json?: string): Buffer {
	return sealPacket(secret, topic, Buffer.from(json ?? JSON.stringify(message)), now);
}

/**
 * Opens a packet of `topic`: the message, or why it was dropped. `accept` is the payload schema
 * (MESSAGE_EVENT_PARAMS); the message must name the topic's channel.
 */
export function openMessage(
	secrets: readonly string[],
	topic: string,
	channel: string,
	sealed: Buffer,
	accept: (payload: unknown) => payload is ChatMessage,
	now = Date.now(),
): { message: ChatMessage } | { rejected: RejectReason | "invalid" } {
	const opened = openPacket(secrets, topic, sealed, now);
	if ("rejected" in opened) return opened;
	let payload: unknown;
	try {
		payload = JSON.parse(opened.payload.toString("utf8"));
	} catch {
		return { rejected: "invalid" };
	}
	if (!accept(payload) || payload.channel !== channel) return { rejected: "invalid" };
	return { message: payload };
}

/** Counted interest in channels, with the linger before a channel no one wants is let go. */
class Interest {
	private readonly counts = new Map<string, number>();
	private readonly lingering = new Map<string, NodeJS.Timeout>();

	constructor(
		private readonly lingerMs: number,
		private readonly release: (channel: string) => void,
	) {}

	/** True when the channel was neither wanted nor lingering: it must be subscribed. */
	add(channel: string): boolean {
		this.counts.set(channel, (this.counts.get(channel) ?? 0) + 1);
		const timer = this.lingering.get(channel);
		if (timer === undefined) return this.counts.get(channel) === 1;
		clearTimeout(timer);
		this.lingering.delete(channel);
		return false;
	}

	remove(channel: string): void {
		const count = this.counts.get(channel);
		if (count === undefined) return;
		if (count > 1) return void this.counts.set(channel, count - 1);
		this.counts.delete(channel);
		const timer = setTimeout(() => {
			this.lingering.delete(channel);
			this.release(channel);
		}, this.lingerMs);
		timer.unref();
		this.lingering.set(channel, timer);
	}

	/** Wanted or lingering: still subscribed. */
	holds(channel: string): boolean {
		return this.counts.has(channel) || this.lingering.has(channel);
	}

	wanted(): string[] {
		return [...this.counts.keys(), ...this.lingering.keys()];
	}

	clear(): void {
		for (const timer of this.lingering.values()) clearTimeout(timer);
		this.lingering.clear();
		this.counts.clear();
	}
}

/** Listeners, notified in order; a throwing listener does not stop the others. */
class Listeners {
	private readonly all = new Set<ChannelListener>();

	add(listener: ChannelListener): () => void {
		this.all.add(listener);
		return () => this.all.delete(listener);
	}

	message(message: ChatMessage): void {
		for (const listener of this.all) listener.message(message);
	}

	resubscribed(): void {
		for (const listener of this.all) listener.resubscribed();
	}
}

/**
 * One process without a broker (`npm start`'s tests in-process, unit tests): a published message goes
 * straight to this process's listeners (always: it writes no interest marks, so `listened` is ignored).
 *
 * @example
 *   const bus = new LocalChannelBus();
 *   bus.listen({ message: m => console.log(m.seq), resubscribed: () => {} });
 *   bus.publish(message); // logs its seq
 */
export class LocalChannelBus implements ChannelBus {
	private readonly listeners = new Listeners();

	publish(message: ChatMessage): void {
		this.listeners.message(message);
	}

	/** Every message of this process reaches its listeners: nothing to subscribe. */
	join(_channel: string): Promise<void> {
		return Promise.resolve();
	}

	leave(_channel: string): void {}

	listen(listener: ChannelListener): () => void {
		return this.listeners.add(listener);
	}

	stats(): ChannelBusStats {
		return { subscribed: 0, received: 0, dropped: 0 };
	}

	start(): Promise<void> {
		return Promise.resolve();
	}

	stop(): Promise<void> {
		return Promise.resolve();
	}
}

export interface MqttChannelBusOptions {
	/** The brokers, as MQTT_URL lists them (credentials in the URLs, percent-encoded); failover as the transporter's. */
	urls: readonly string[];
	/** The first signs; all verify (CLUSTER_SECRET, CLUSTER_SECRET_PREVIOUS). */
	secrets: readonly string[];
	namespace: string;
	/** The payload schema (MESSAGE_EVENT_PARAMS, compiled). */
	accept: (payload: unknown) => payload is ChatMessage;
	/** How long a channel nobody wants stays subscribed (a stream that reconnects at once finds it so). */
	lingerMs?: number;
	/** How long `join` waits for the broker's SUBACK before it fails (503). */
	joinTimeoutMs?: number;
	/**
	 * Marks channels as listened to in the history store (`history.interest`); resolves once the store
	 * holds the marks. Called by `join` for a channel's first want, and every `interestRefreshMs` for
	 * every channel still wanted (lingering ones too), in batches of INTEREST_BATCH_MAX.
	 */
	markInterest: (channels: readonly string[], listener: string) => Promise<unknown>;
	/** Default INTEREST_REFRESH_MS (a third of the marks' TTL). */
	interestRefreshMs?: number;
	/** A warning about dropped packets, at most every DROP_LOG_INTERVAL_MS. */
	warn?: (line: string) => void;
}

const DEFAULT_LINGER_MS = 2000;
/** Channels per `markInterest` call (the `history.interest` action's bound). */
export const INTEREST_BATCH_MAX = HEADS_BATCH_MAX;
const DEFAULT_JOIN_TIMEOUT_MS = 5000;
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * The channel bus over an MQTT broker: its own mqtt.js connection, beside Moleculer's transporter.
 *
 * @example
 *   const bus = new MqttChannelBus({ urls: config.mqttUrls, secrets: clusterSecrets(config), namespace, accept, markInterest });
 *   await bus.start();
 */
export class MqttChannelBus implements ChannelBus {
	private client: MqttClient | undefined;
	private readonly interest: Interest;
	private readonly listeners = new Listeners();
	private readonly signingSecret: string;
	/** Joins waiting for the next subscription round (sent, or sent once connected), per channel. */
	private readonly waiting = new Map<string, Array<() => void>>();
	private readonly counts = { received: 0, dropped: 0 };
	private droppedSinceLog = 0;
	private lastDropLog = 0;
	/**
	 * The interest mark of each wanted channel, once asked (resolved once the store holds it). One per
	 * wanted channel: deleted when the channel is let go, or when the mark failed (the next join asks again).
	 */
	private readonly marks = new Map<string, Promise<void>>();
	private refreshTimer: NodeJS.Timeout | undefined;
	/** Its listener id in interest marks (and in its MQTT client id): new for every process. */
	readonly id = randomBytes(6).toString("hex");

	constructor(private readonly options: MqttChannelBusOptions) {
		const [signing] = options.secrets;
		if (!signing) throw new Error("MqttChannelBus needs at least one secret");
		this.signingSecret = signing;
		this.interest = new Interest(options.lingerMs ?? DEFAULT_LINGER_MS, channel => {
			// Its mark is not refreshed any more: it expires within the TTL (until then appends are still sent).
			this.marks.delete(channel);
			this.client?.unsubscribe(this.topic(channel));
		});
	}

	/** Connects (and keeps reconnecting, as mqttClientOptions says); resolves on the first connection. */
	start(): Promise<void> {
		const client = connect({
			...mqttClientOptions(this.options.urls),
			clientId: `${this.options.namespace}-bus-${this.id}`,
			clean: true,
			// Subscriptions are ours to renew (then the hub resyncs); offline QoS 0 packets are not kept: history has them.
			resubscribe: false,
			queueQoSZero: false,
		});
		this.client = client;
		client.on("message", (topic, payload) => this.receive(topic, payload));
		client.on("connect", () => this.resubscribe());
		client.on("error", err => this.options.warn?.(`Channel bus: ${err.message}`));
		this.refreshTimer = setInterval(() => this.refreshMarks(), this.options.interestRefreshMs ?? INTEREST_REFRESH_MS);
		this.refreshTimer.unref();
		// Like the transporter, it keeps trying while the broker is away (errors are warned about, not fatal).
		return new Promise(resolve => client.once("connect", () => resolve()));
	}

	async stop(): Promise<void> {
		clearInterval(this.refreshTimer);
		this.interest.clear();
		this.marks.clear();
		await this.client?.endAsync();
		this.client = undefined;
	}

	publish(message: ChatMessage, json?: string, listened?: boolean): void {
		if (this.interest.holds(message.channel)) this.listeners.message(message);
		const client = this.client;
		// No node marked the channel (the store said so atomically with the append): no packet to seal or send.
		if (!client?.connected || listened === false) return;
		const topic = this.topic(message.channel);
		client.publish(topic, sealMessage(this.signingSecret, topic, message, Date.now(), json), { qos: 0 }, err => {
			if (err) this.options.warn?.(`Channel bus: publish failed: ${err.message}`);
		});
	}

	join(channel: string): Promise<void> {
		const first = this.interest.add(channel);
		const marked = this.marked(channel);
		return Promise.all([marked, this.subscribed(channel, first)]).then(() => undefined);
	}

	/** The channel's mark in the store: asked once per want, then the same (settled) promise for every join. */
	private marked(channel: string): Promise<void> {
		const asked = this.marks.get(channel);
		if (asked) return asked;
		const marking: Promise<void> = this.options.markInterest([channel], this.id).then(
			() => undefined,
			(err: unknown) => {
				if (this.marks.get(channel) === marking) this.marks.delete(channel);
				// As is: history's own answer (STORE_UNAVAILABLE, no history service…), as a read would fail.
				throw err;
			},
		);
		this.marks.set(channel, marking);
		return marking;
	}

	/** Resolves on the SUBACK of the channel's subscription (at once when it is already subscribed). */
	private subscribed(channel: string, first: boolean): Promise<void> {
		if (!first && !this.waiting.has(channel)) return Promise.resolve();
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				const waiters = this.waiting.get(channel);
				waiters?.splice(waiters.indexOf(done), 1);
				if (waiters?.length === 0) this.waiting.delete(channel);
				reject(chatError("SERVICE_UNAVAILABLE", { service: "channel-bus" }));
			}, this.options.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS);
			const done = (): void => {
				clearTimeout(timer);
				resolve();
			};
			const waiters = this.waiting.get(channel);
			if (waiters) return void waiters.push(done);
			this.waiting.set(channel, [done]);
			if (this.client?.connected) this.subscribe([channel], false);
		});
	}

	leave(channel: string): void {
		this.interest.remove(channel);
	}

	listen(listener: ChannelListener): () => void {
		return this.listeners.add(listener);
	}

	stats(): ChannelBusStats {
		return { subscribed: this.interest.wanted().length, ...this.counts };
	}

	/** Every wanted channel's mark again, so none expires while this node listens (failures: the next period). */
	private refreshMarks(): void {
		const channels = this.interest.wanted();
		for (let i = 0; i < channels.length; i += INTEREST_BATCH_MAX)
			this.options
				.markInterest(channels.slice(i, i + INTEREST_BATCH_MAX), this.id)
				.catch((err: Error) => this.options.warn?.(`Channel bus: refreshing interest marks failed: ${err.message}`));
	}

	private topic(channel: string): string {
		return channelTopic(this.options.namespace, channel);
	}

	/** A (re)connection: every wanted channel again, in one SUBSCRIBE; then the listeners resync. */
	private resubscribe(): void {
		const channels = this.interest.wanted();
		if (channels.length > 0) this.subscribe(channels, true);
	}

	private subscribe(channels: string[], reconnected: boolean): void {
		const client = this.client;
		if (!client) return;
		client.subscribe(
			channels.map(channel => this.topic(channel)),
			{ qos: 0 },
			(err, granted) => {
				if (err) return this.options.warn?.(`Channel bus: subscribe failed: ${err.message}`);
				const refused = (granted ?? []).filter(g => g.qos === 128).map(g => g.topic);
				if (refused.length > 0) this.options.warn?.(`Channel bus: the broker refused ${refused.join(", ")} (ACL?)`);
				for (const channel of channels) {
					if (refused.includes(this.topic(channel))) continue;
					for (const done of this.waiting.get(channel) ?? []) done();
					this.waiting.delete(channel);
				}
				if (reconnected) this.listeners.resubscribed();
			},
		);
	}

	private receive(topic: string, payload: Buffer): void {
		this.counts.received++;
		const channel = topicChannel(this.options.namespace, topic);
		if (channel === undefined || !this.interest.holds(channel)) return void this.drop("unwanted");
		const opened = openMessage(this.options.secrets, topic, channel, payload, this.options.accept);
		if ("rejected" in opened) return void this.drop(opened.rejected);
		this.listeners.message(opened.message);
	}

	/** A flood of forged packets must not become a flood of log lines. */
	private drop(reason: string): void {
		this.counts.dropped++;
		this.droppedSinceLog++;
		const now = Date.now();
		if (reason === "unwanted" || now - this.lastDropLog < DROP_LOG_INTERVAL_MS) return;
		this.options.warn?.(`Dropped ${this.droppedSinceLog} channel packet(s) that did not verify (last: ${reason}).`);
		this.droppedSinceLog = 0;
		this.lastDropLog = now;
	}
}
