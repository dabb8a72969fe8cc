/**
 * What an idle stream costs its edge (issue #10, scenario E; BENCHMARKS.md, "Memory per idle stream, third
 * pass"): a real node, 300 idle streams over 20 channels (15 each, as in the bench), and heap snapshots of
 * the node (`--heapsnapshot-signal`, taken after a full GC) before and after. The JS heap per stream stays
 * under 7 KB (6.4 KB here; 8.4 KB before this pass, 7.1 KB with the header block left in pieces; Node's own
 * per-connection objects included), and every stream's sent header block is one flat string.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { HeapSnapshot } from "../support/heap-snapshot";
import { type ChatcastNode, startNode, uniqueNamespace } from "../support/node-process";
import { openStream, type TestStream } from "../support/sse-client";

const CHANNELS = 20;
const PER_CHANNEL = 15;
const MAX_HEAP_BYTES_PER_STREAM = 7 * 1024;

let node: ChatcastNode;
let snapshots: string;
const streams: TestStream[] = [];

beforeAll(async () => {
	snapshots = await mkdtemp(path.join(tmpdir(), "chatcast-heap-"));
	node = await startNode({
		namespace: uniqueNamespace("idle-memory"),
		env: {
			NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshots}`,
			// Every stream comes from this one address.
			STREAMS_PER_CLIENT: "1000",
			STREAM_CHANNELS_PER_CLIENT: "100",
		},
		timeoutMs: 60_000,
	});
}, 70_000);

afterAll(async () => {
	for (const stream of streams) stream.close();
	await node?.stop();
	await rm(snapshots, { recursive: true, force: true });
});

/** A heap snapshot of the node, once it has written all of it. */
async function snapshot(): Promise<HeapSnapshot> {
	const before = new Set(await readdir(snapshots));
	process.kill(node.pid, "SIGUSR2");
	let file: string | undefined;
	let size = -1;
	for (;;) {
		await new Promise(resolve => setTimeout(resolve, 500));
		file ??= (await readdir(snapshots)).find(name => name.endsWith(".heapsnapshot") && !before.has(name));
		if (file === undefined) continue;
		const now = (await stat(path.join(snapshots, file))).size;
		if (now === size && now > 0) return HeapSnapshot.parse(await readFile(path.join(snapshots, file), "utf8"));
		size = now;
	}
}

test("an idle stream keeps under 7 KB of JS heap, and its header block flat", async () => {
	// One stream opened and closed first: what the first stream creates once (code, caches) is not per stream.
	const warmUp = await openStream(`${node.baseUrl}/api/channels/${randomUUID()}/events`);
	await warmUp.waitForEvent("presence");
	warmUp.close();
	const idle = await snapshot();
	for (let c = 0; c < CHANNELS; c++) {
		const channel = randomUUID();
		for (let i = 0; i < PER_CHANNEL; i++) streams.push(await openStream(`${node.baseUrl}/api/channels/${channel}/events`));
	}
	await Promise.all(streams.map(stream => stream.waitForEvent("presence")));
	const open = await snapshot();

	const perStream = (open.dataBytes() - idle.dataBytes()) / streams.length;

	expect(perStream).toBeLessThan(MAX_HEAP_BYTES_PER_STREAM);
	const headerBlocks = open.propertyTypes("ServerResponse").map(properties => properties._header);
	expect(headerBlocks.filter(type => type === "string").length).toBeGreaterThanOrEqual(streams.length);
	expect(headerBlocks.filter(type => type === "concatenated string")).toEqual([]);
}, 120_000);
