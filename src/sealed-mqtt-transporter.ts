/**
 * Moleculer's MQTT transporter with every packet sealed (`src/bus-auth.ts`): the bus is a trust boundary.
 * A packet whose seal does not verify with the cluster's secret is dropped before Moleculer parses it,
 * so no handler, registry update or discovery ever sees it: a process that reaches the MQTT broker
 * without `CLUSTER_SECRET` can neither join the namespace, nor deliver an event, nor call an action.
 *
 * @example
 *   transporter: new SealedMqttTransporter({ host, port, topicSeparator: "/" }, { secrets: [secret], onReject })
 */
import { Transporters } from "moleculer";
import { openPacket, type RejectReason, sealPacket } from "./bus-auth";

export interface SealOptions {
	/** The first signs; all verify (the previous secret stays here while a rotation is rolled out). */
	secrets: readonly string[];
	maxAgeMs?: number;
	/** Called for every dropped packet (metrics, logs). */
	onReject?: (reason: RejectReason, cmd: string) => void;
}

type MqttOptions = ConstructorParameters<typeof Transporters.MQTT>[0] & Record<string, unknown>;

export class SealedMqttTransporter extends Transporters.MQTT {
	private readonly signingSecret: string;

	constructor(
		mqttOptions: MqttOptions,
		private readonly seal: SealOptions,
	) {
		super(mqttOptions);
		const [signing] = seal.secrets;
		if (!signing) throw new Error("SealedMqttTransporter needs at least one secret");
		this.signingSecret = signing;
	}

	override send(topic: string, data: Buffer): Promise<void> {
		return super.send(topic, sealPacket(this.signingSecret, this.commandOf(topic), data));
	}

	override receive(cmd: string, data: Buffer): Promise<void> | void {
		const opened = openPacket(this.seal.secrets, cmd, data, Date.now(), this.seal.maxAgeMs);
		if ("rejected" in opened) return this.seal.onReject?.(opened.rejected, cmd);
		return super.receive(cmd, opened.payload);
	}

	/** The packet type as the receiving side derives it: the first topic level after the prefix. */
	private commandOf(topic: string): string {
		return topic.substring(this.prefix.length + this.topicSeparator.length).split(this.topicSeparator)[0];
	}
}
