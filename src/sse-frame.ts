/**
 * Server-Sent Events framing (WHATWG HTML, "Server-sent events").
 *
 * Whatever the data holds (`\n`, `\r`, `\r\n`, lines that look like `data:` or `event:`), a frame is
 * always exactly one event: every line of the data gets its own `data:` prefix, and `id`/`event`
 * refuse line breaks.
 *
 * @example
 *   sseEvent({ id: 7, event: "message", data: JSON.stringify(msg) });
 *   // "id: 7\nevent: message\ndata: {…}\n\n"
 */

export interface SseEvent {
	/** Becomes the client's Last-Event-ID. */
	id?: string | number;
	/** Event type; the client's `onmessage` sees only "message" (or none). */
	event?: string;
	data: string;
}

const LINE_BREAK = /\r\n|\r|\n/;

/** Frames one event. Throws if `id` or `event` contain a line break (or `id` a NUL, which clients ignore). */
export function sseEvent({ id, event, data }: SseEvent): string {
	let frame = "";
	if (id !== undefined) {
		const value = String(id);
		if (LINE_BREAK.test(value) || value.includes("\0")) throw new TypeError("SSE id must not contain line breaks or NUL");
		frame += `id: ${value}\n`;
	}
	if (event !== undefined) {
		if (LINE_BREAK.test(event)) throw new TypeError("SSE event name must not contain line breaks");
		frame += `event: ${event}\n`;
	}
	for (const line of data.split(LINE_BREAK)) frame += `data: ${line}\n`;
	return `${frame}\n`;
}

/** A comment line: ignored by clients, keeps proxies and idle timeouts from closing the stream. */
export function sseComment(text = ""): string {
	return `:${text.replace(/\r\n|\r|\n/g, " ")}\n\n`;
}

/** Tells the client how long to wait before reconnecting. */
export function sseRetry(ms: number): string {
	return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}

/** The response headers of every stream. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
	"Content-Type": "text/event-stream; charset=utf-8",
	"Cache-Control": "no-cache, no-transform",
	"X-Accel-Buffering": "no",
};
