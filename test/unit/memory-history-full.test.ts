/** Without Redis, a full in-memory history refuses publishes with 503 STORE_FULL (never a 500); reads go on. */
import { randomUUID } from "node:crypto";
import { type InProcessNode, startInProcess } from "../support/in-process";

let node: InProcessNode;

beforeAll(async () => {
	node = await startInProcess({ memoryHistoryMaxBytes: 65_536 });
});

afterAll(() => node.stop());

test("publishes past MEMORY_HISTORY_MAX_BYTES answer 503 STORE_FULL; stored history stays readable", async () => {
	const channel = randomUUID();
	const publish = () =>
		fetch(`${node.baseUrl}/api/channels/${channel}/messages`, {
			method: "POST",
			headers: { "Content-Type": "text/plain" },
			body: "x".repeat(4000),
		});
	const statuses: number[] = [];
	for (let i = 0; i < 20; i++) statuses.push((await publish()).status);
	expect(statuses.slice(0, 10).every(s => s === 201)).toBe(true);
	const refused = await publish();
	expect(refused.status).toBe(503);
	expect(await refused.json()).toMatchObject({ type: "STORE_FULL" });
	const page = (await (await fetch(`${node.baseUrl}/api/channels/${channel}/messages?limit=500`)).json()) as { lastSeq: number };
	expect(page.lastSeq).toBe(statuses.filter(s => s === 201).length);
});
