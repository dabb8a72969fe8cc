/**
 * The publish itself, one function for every way in: `ingest.publish` (over Moleculer) and the lean
 * HTTP route (src/publish-route.ts). Validate → store (the answer is 2xx only once stored) → fan out on
 * the channel bus → count it.
 *
 * @example
 *   const outcome = await publishMessage({ channel, text: "hi" }, undefined, history.append, deps);
 *   // → { status: 201, location: "/api/channels/<c>/messages?after=0&limit=1", message: { seq: 1, … } }
 */
import type { ChannelBus } from "./channel-bus";
import type { StreamUser } from "./contract";
import { publishFailure } from "./errors";
import type { AppendResult } from "./history-store";
import { type ChatMessage, createDraft, type MessageDraft, type PublishInput } from "./message";

/** Stores a draft: this node's history store in-process, or `history.append` over Moleculer. */
export type AppendDraft = (draft: MessageDraft) => Promise<AppendResult>;

export interface PublishDeps {
	maxMessageBytes: number;
	bus: Pick<ChannelBus, "publish">;
	/** Counts a message stored for the first time (chatcast_messages_published_total). */
	published(): void;
	/** Logs a store failure (the client gets only the catalogue type). */
	warn(line: string, err: unknown): void;
}

export interface PublishOutcome {
	/** 201 stored now; 200 the original of a repeated clientMsgId. */
	status: 200 | 201;
	/** The history page that holds exactly this message. */
	location: string;
	message: ChatMessage;
	/** `message` as JSON (the stored text when the store gave it): the body of the answer. */
	json: string;
}

/** A publish as a client asked for it (`user`: the verified token's, never the body's); throws catalogue errors. */
export type Publish = (input: PublishInput, user: StreamUser | undefined) => Promise<PublishOutcome>;

export async function publishMessage(
	input: PublishInput,
	user: StreamUser | undefined,
	append: AppendDraft,
	deps: PublishDeps,
): Promise<PublishOutcome> {
	const draft = createDraft(input, deps, new Date(), user);
	let result: AppendResult;
	try {
		result = await append(draft);
	} catch (err) {
		deps.warn("history.append failed:", err);
		throw publishFailure(err);
	}
	// To the nodes with subscribers of the channel. A repeat is sent again too: broadcast nodes drop seqs
	// they have, and it heals a lost packet. The message is stored, so a failed fan-out is not the
	// client's failure: nodes repair from history.
	// Serialized once for the bus and the answer (or not at all: Redis hands back the stored text).
	const json = result.json ?? JSON.stringify(result.message);
	// The packet is skipped only when the store said, in the append's own atomic step, that no node has
	// marked the channel (`listened: false`): a node marks before it reads its position, so whatever it has
	// not read is published to it. A repeat (200) follows the same rule.
	deps.bus.publish(result.message, json, result.listened);
	if (result.created) deps.published();
	const { channel, seq } = result.message;
	return {
		status: result.created ? 201 : 200,
		location: `/api/channels/${channel}/messages?after=${seq - 1}&limit=1`,
		message: result.message,
		json,
	};
}
