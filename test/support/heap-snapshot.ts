/**
 * A V8 heap snapshot (`.heapsnapshot` JSON, e.g. written by `node --heapsnapshot-signal`), read for what
 * a test asks of it: the bytes its objects take, and what the objects of one class point to.
 *
 * @example
 *   const heap = HeapSnapshot.parse(await readFile(file, "utf8"));
 *   heap.dataBytes();                                   // self sizes of every object but compiled code
 *   heap.propertyTypes("ServerResponse")[0]._header;    // "string" or "concatenated string"
 */

interface SnapshotJson {
	snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
	nodes: number[];
	edges: number[];
	strings: string[];
}

export class HeapSnapshot {
	private constructor(private readonly json: SnapshotJson) {}

	static parse(text: string): HeapSnapshot {
		return new HeapSnapshot(JSON.parse(text) as SnapshotJson);
	}

	/** Self sizes of every object but compiled code (which grows as functions get hot, not with what is held). */
	dataBytes(): number {
		const { nodes } = this.json;
		const { size, type, selfSize, types } = this.nodeLayout();
		let bytes = 0;
		for (let node = 0; node < nodes.length; node += size)
			if (types[nodes[node + type]] !== "code") bytes += nodes[node + selfSize];
		return bytes;
	}

	/**
	 * For each object of class `className`: its named properties and the type of what each points to
	 * ("string", "concatenated string", "object", …). Symbol-keyed properties read as `<symbol name>`.
	 */
	propertyTypes(className: string): Record<string, string>[] {
		const { nodes, edges, strings, snapshot } = this.json;
		const { size, type, name, edgeCount, types } = this.nodeLayout();
		const edgeFields = snapshot.meta.edge_fields;
		const edgeSize = edgeFields.length;
		const [edgeType, edgeName, edgeTo] = ["type", "name_or_index", "to_node"].map(field => edgeFields.indexOf(field));
		const found: Record<string, string>[] = [];
		let edge = 0;
		for (let node = 0; node < nodes.length; node += size) {
			const end = edge + nodes[node + edgeCount] * edgeSize;
			if (types[nodes[node + type]] === "object" && strings[nodes[node + name]] === className) {
				const properties: Record<string, string> = {};
				for (let e = edge; e < end; e += edgeSize) {
					if (snapshot.meta.edge_types[0][edges[e + edgeType]] === "property")
						properties[strings[edges[e + edgeName]]] = types[nodes[edges[e + edgeTo] + type]];
				}
				found.push(properties);
			}
			edge = end;
		}
		return found;
	}

	private nodeLayout(): { size: number; type: number; name: number; selfSize: number; edgeCount: number; types: string[] } {
		const fields = this.json.snapshot.meta.node_fields;
		return {
			size: fields.length,
			type: fields.indexOf("type"),
			name: fields.indexOf("name"),
			selfSize: fields.indexOf("self_size"),
			edgeCount: fields.indexOf("edge_count"),
			types: this.json.snapshot.meta.node_types[0],
		};
	}
}
