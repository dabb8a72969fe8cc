/**
 * The bytes of a chat stream, built once here: a message per stream format, the `reset` event, other events.
 * Each returns a Buffer so the fan-out writes the same bytes to every subscriber without re-encoding.
 *
 * @example
 *   frame(message, "chatcast");   // "id: f3Kq….7\nevent: message\ndata: {…}\n\n"
 *   resetFrame({ epoch: "f3Kq…", oldestSeq: 6, lastSeq: 10 });
 */
import type { StreamReset } from "./channel-sequencer";
import { type ChatMessage, toLegacyMessage } from "./message";
import { sseEvent } from "./sse-frame";

/** `chatcast`: `event: message` with the message JSON; `legacy`: the original system's `{ id, userId, message }`. */
export type StreamFormat = "chatcast" | "legacy";

/** The SSE frame of a message in a stream format (`id` is `<epoch>.<seq>`: it becomes the client's Last-Event-ID). */
export function frame(message: ChatMessage, format: StreamFormat): Buffer {
	const id = `${message.epoch}.${message.seq}`;
	return Buffer.from(
		format === "legacy"
			? sseEvent({ id, data: JSON.stringify(toLegacyMessage(message)) })
			: sseEvent({ id, event: "message", data: JSON.stringify(message) }),
	);
}

/** `event: reset`: the stream starts over at `oldestSeq` of `epoch`; what the client had before is not continued. */
export function resetFrame({ epoch, oldestSeq, lastSeq }: StreamReset): Buffer {
	return eventFrame("reset", { epoch, oldestSeq, lastSeq });
}

/** Any other event (presence, reset) with JSON data. */
export function eventFrame(event: string, data: unknown): Buffer {
	return Buffer.from(sseEvent({ event, data: JSON.stringify(data) }));
}
