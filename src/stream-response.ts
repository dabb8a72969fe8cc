/**
 * What an open stream's HTTP response keeps in memory for as long as it lives (hours, for an idle stream).
 *
 * Node keeps a response's header block (`_header`, what `headersSent` reads) once it is sent, as the tree of
 * string pieces `_storeHeader` concatenated it from: about 30 pieces, 1 KB, per stream. A flat copy of the
 * same text is a quarter of that, and the pieces go. (A Node whose response has no `_header` is left as it is.)
 *
 * @example
 *   res.writeHead(200, headers);
 *   flattenHeaderBlock(res);
 */
export function flattenHeaderBlock(res: object): void {
	const header: unknown = Reflect.get(res, "_header");
	// latin1 both ways: Node writes the block as latin1 and refuses header characters outside it.
	if (typeof header === "string") Reflect.set(res, "_header", Buffer.from(header, "latin1").toString("latin1"));
}
