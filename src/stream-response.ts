/**
 * An open stream's HTTP response: how its head is written, where its messages go, and what it keeps in
 * memory for as long as it lives (hours, for an idle stream).
 *
 * @example
 *   const sink = streamSocket(res);        // the fan-out writes here
 *   writeStreamHead(res, 200, headers);    // once the stream opens
 *   sink.write(frame);
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { SseSink } from "./channel-fan-out";

/** What a stream needs of a `ServerResponse`. */
export interface StreamHeadTarget {
	useChunkedEncodingByDefault: boolean;
	writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
	flushHeaders(): void;
}

/**
 * Sends the stream's status line and headers at once, for a body that ends when the connection does
 * (`Connection: close`, no chunked encoding). Every message is then one plain socket write: Node's
 * `ServerResponse.write` frames each chunk (size line, CRLF) and corks the socket until the next tick,
 * which was a third of a delivery's CPU (BENCHMARKS.md, "Stream writes straight to the socket"). The stream ends
 * with the connection anyway; EventSource reconnects on a new one.
 */
export function writeStreamHead(res: StreamHeadTarget, status: number, headers: OutgoingHttpHeaders): void {
	res.useChunkedEncodingByDefault = false;
	res.writeHead(status, { ...headers, Connection: "close" });
	res.flushHeaders();
	flattenHeaderBlock(res);
}

/**
 * Where a stream's frames are written: the response's socket itself (its body is close-delimited, see
 * writeStreamHead). Undefined once the client is gone.
 */
export function streamSocket<S extends SseSink>(res: { readonly socket: S | null }): S | undefined {
	return res.socket ?? undefined;
}

/**
 * Node keeps a response's header block (`_header`, what `headersSent` reads) once it is sent, as the tree of
 * string pieces `_storeHeader` concatenated it from: about 30 pieces, 1 KB, per stream. A flat copy of the
 * same text is a quarter of that, and the pieces go. (A Node whose response has no `_header` is left as it is.)
 */
export function flattenHeaderBlock(res: object): void {
	const header: unknown = Reflect.get(res, "_header");
	// latin1 both ways: Node writes the block as latin1 and refuses header characters outside it.
	if (typeof header === "string") Reflect.set(res, "_header", Buffer.from(header, "latin1").toString("latin1"));
}
