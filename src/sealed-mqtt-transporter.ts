/**
 * Moleculer's MQTT transporter with every packet sealed (`src/bus-auth.ts`): the bus is a trust boundary.
 * A packet whose seal does not verify with the cluster's secret is dropped before Moleculer parses it,
 * so no handler, registry update or discovery ever sees it: a process that reaches the MQTT broker
 * without `CLUSTER_SECRET` can neither join the namespace, nor deliver an event, nor call an action.
 *
 * @example
 *   transporter: new SealedMqttTransporter({ ...mqttClientOptions(urls), topicSeparator: "/" }, { secrets: [secret], onReject })
 */
import { Errors, Transporters } from "moleculer";
import type { MqttClient } from "mqtt";
import { openPacket, type RejectReason, sealPacket } from "./bus-auth";

export interface SealOptions {
	/** The first signs; all verify (the previous secret stays here while a rotation is rolled out). */
	secrets: readonly string[];
	maxAgeMs?: number;
	/** Called for every dropped packet; by default a warning at most every REJECT_LOG_INTERVAL_MS. */
	onReject?: (reason: RejectReason, cmd: string) => void;
}

/** A flood of forged packets must not become a flood of log lines. */
const REJECT_LOG_INTERVAL_MS = 10_000;

type MqttOptions = ConstructorParameters<typeof Transporters.MQTT>[0] & Record<string, unknown>;

export class SealedMqttTransporter extends Transporters.MQTT {
	private readonly signingSecret: string;
	private rejectedSinceLog = 0;
	private lastRejectLog = 0;
	/** The mqtt.js client whose "close" fails the pending requests (the same object across reconnects). */
	private watched: MqttClient | undefined;

	constructor(
		mqttOptions: MqttOptions,
		private readonly seal: SealOptions,
	) {
		super(mqttOptions);
		const [signing] = seal.secrets;
		if (!signing) throw new Error("SealedMqttTransporter needs at least one secret");
		this.signingSecret = signing;
	}

	/**
	 * Never rejects: mqtt.js goes on trying the brokers in turn by itself, and its first CONNACK completes
	 * Moleculer's connect (the transit waits for afterConnect, not for this promise). A rejection would make
	 * Moleculer open a second client 5 s later while the first still reconnects: every packet twice.
	 */
	override connect(): Promise<void> {
		return super.connect().catch(() => undefined);
	}

	/**
	 * Every (re)connection. The answers to the requests sent over a connection that is lost are lost with it
	 * (QoS 0, clean session: the broker drops what it routes to a dead connection), so those requests fail
	 * as soon as it closes — RequestRejectedError, answered OUTCOME_UNKNOWN (503: retry with the same
	 * clientMsgId) — not after the 5 s request timeout: a node failing over to the next broker is back in
	 * about a second, and its clients should not wait longer than that to hear.
	 */
	override onConnected(wasReconnect?: boolean): Promise<void> {
		const client: MqttClient | undefined = this.client ?? undefined;
		if (client && client !== this.watched) {
			this.watched = client;
			client.on("close", () => this.failPendingRequests());
		}
		return super.onConnected(wasReconnect);
	}

	/**
	 * Between a disconnect() (the client is dropped at once) and its "close" (`connected` false), Moleculer's
	 * send returns nothing instead of a promise, and the heartbeat timer's `.catch` on it threw in a timer:
	 * the process died. Here such a packet fails as Moleculer's retryable BrokerDisconnectedError instead.
	 */
	override send(topic: string, data: Buffer): Promise<void> {
		if (!this.client) return Promise.reject(new Errors.BrokerDisconnectedError("The MQTT client is closing."));
		return super.send(topic, sealPacket(this.signingSecret, this.commandOf(topic), data));
	}

	override receive(cmd: string, data: Buffer): Promise<void> | void {
		const opened = openPacket(this.seal.secrets, cmd, data, Date.now(), this.seal.maxAgeMs);
		if ("rejected" in opened) return (this.seal.onReject ?? this.logRejected).call(this, opened.rejected, cmd);
		return super.receive(cmd, opened.payload);
	}

	private failPendingRequests(): void {
		const nodes = new Set([...this.transit.pendingRequests.values()].map(request => request.nodeID));
		if (nodes.size > 0)
			this.logger.warn(`MQTT connection lost: failing the requests waiting for an answer from ${[...nodes].join(", ")}.`);
		for (const nodeID of nodes) this.transit.removePendingRequestByNodeID(nodeID);
	}

	private logRejected(reason: RejectReason, cmd: string): void {
		this.rejectedSinceLog++;
		const now = Date.now();
		if (now - this.lastRejectLog < REJECT_LOG_INTERVAL_MS) return;
		this.logger.warn(
			`Dropped ${this.rejectedSinceLog} transporter packet(s) that were not sealed with the cluster's secret (last: ${cmd}, ${reason}).`,
		);
		this.rejectedSinceLog = 0;
		this.lastRejectLog = now;
	}

	/** The packet type as the receiving side derives it: the first topic level after the prefix. */
	private commandOf(topic: string): string {
		return topic.substring(this.prefix.length + this.topicSeparator.length).split(this.topicSeparator)[0];
	}
}
