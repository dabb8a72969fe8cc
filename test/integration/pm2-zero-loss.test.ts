/**
 * The production topology under real pm2 (its own PM2_HOME): 3 clustered edges sharing one port, each
 * running every service (it stores what it accepts, in the shared Redis), over Mosquitto; no core. Subscribers spread over the edges while a publisher
 * sends continuously; (a) `pm2 reload` of all edges, (b) SIGKILL of one edge. Every subscriber
 * receives each accepted seq exactly once, in increasing order, across all its reconnects.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { get, post } from "../support/http";
import { CLUSTER_SECRET, MQTT_URL, REDIS_URL, ROOT, uniqueNamespace, waitFor, freePort } from "../support/node-process";
import { expectEachExactlyOnce, seqRange } from "../support/exactly-once";
import { ResilientSubscriber } from "../support/sse-client";

const run = promisify(execFile);
const PM2 = path.join(ROOT, "node_modules/pm2/bin/pm2");
const pm2Home = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-pm2-"));
const namespace = uniqueNamespace("pm2");
let port: number;
let baseUrl: string;
const opened: ResilientSubscriber[] = [];
/** Set when the tests end, so that a publisher left retrying by a failed test gives up. */
let abandoned = false;

async function pm2(...args: string[]): Promise<string> {
	const { stdout } = await run(process.execPath, [PM2, ...args], {
		cwd: ROOT,
		timeout: 120_000,
		env: {
			PATH: process.env.PATH ?? "",
			HOME: process.env.HOME ?? "",
			PM2_HOME: pm2Home,
			PORT: String(port),
			HOST: "127.0.0.1",
			MQTT_URL,
			CLUSTER_SECRET,
			RATE_LIMITS: "off",
			REDIS_URL,
			NAMESPACE: namespace,
			EDGE_INSTANCES: "3",
			EDGE_METRICS_PORT: "",
			CORE_METRICS_PORT: "",
			LOG_LEVEL: "warn",
			CHATCAST_ENV_FILE: path.join(pm2Home, "none.env"),
		},
	});
	return stdout;
}

interface Pm2Process {
	pid: number;
	name: string;
	pm2_env: { status: string };
}

async function processes(name: string): Promise<Pm2Process[]> {
	return (JSON.parse(await pm2("jlist")) as Pm2Process[]).filter(p => p.name === name);
}

beforeAll(async () => {
	port = await freePort();
	baseUrl = `http://127.0.0.1:${port}`;
	await pm2("start", "ecosystem.config.js");
	await waitFor(async () => (await get(`${baseUrl}/api/ready`)).status === 200, 30_000, "the edges to be ready");
}, 120_000);

afterAll(async () => {
	// Stopped first: a subscriber or publisher left running would keep retrying against the gone edges.
	abandoned = true;
	for (const s of opened) s.stop();
	await pm2("kill").catch(() => undefined);
	fs.rmSync(pm2Home, { recursive: true, force: true });
}, 60_000);

test("pm2 runs 3 edges on one port and no core; edges storing at once never store twice", async () => {
	expect((await processes("chatcast-edge")).map(p => p.pm2_env.status)).toEqual(["online", "online", "online"]);
	expect(await processes("chatcast-core")).toEqual([]);
	// The demo page and the API share the port.
	expect((await fetch(`${baseUrl}/`)).status).toBe(200);

	const channel = randomUUID();
	const attempts = await Promise.all(
		Array.from({ length: 8 }, () =>
			post(`${baseUrl}/api/channels/${channel}/messages`, { text: "once", clientMsgId: "same-id" }),
		),
	);
	expect(attempts.filter(a => a.status === 201)).toHaveLength(1);
	expect(attempts.filter(a => a.status === 200)).toHaveLength(7);
	expect(new Set(attempts.map(a => a.body.id)).size).toBe(1);
	expect((await get<{ lastSeq: number }>(`${baseUrl}/api/channels/${channel}`)).body.lastSeq).toBe(1);
}, 60_000);

test("zero loss through pm2 reload and SIGKILL of an edge", async () => {
	const channel = randomUUID();
	const subscribers = Array.from({ length: 9 }, () => new ResilientSubscriber(`${baseUrl}/api/channels/${channel}/events`));
	opened.push(...subscribers);
	await Promise.all(subscribers.map(s => s.start()));
	// With 9 streams over 3 edges the cluster master spreads them; wait until each edge holds some.
	await waitFor(
		async () => {
			const byNode = (await get<{ byNode: Record<string, number> }>(`${baseUrl}/api/channels/${channel}`)).body.byNode ?? {};
			return Object.keys(byNode).length === 3;
		},
		15_000,
		"streams on all three edges",
	);

	const accepted = new Set<number>();
	let retriedPublishes = 0;
	let publishing = true;
	// Like a real client: a publish whose answer was lost (its edge died) is retried with the same
	// clientMsgId until it is answered, so "accepted" is exactly what was stored.
	const publishOnce = async (i: number): Promise<void> => {
		while (!abandoned) {
			try {
				const answer = await post(`${baseUrl}/api/channels/${channel}/messages`, { text: `msg ${i}`, clientMsgId: `pub-${i}` });
				if (answer.status === 201 || answer.status === 200) return void accepted.add(answer.body.seq);
			} catch {
				// connection reset while an edge restarts
			}
			retriedPublishes++;
			await new Promise(r => setTimeout(r, 50));
		}
	};
	const publisher = (async () => {
		for (let i = 0; publishing && !abandoned; i++) {
			await publishOnce(i);
			await new Promise(r => setTimeout(r, 15));
		}
	})();

	await new Promise(r => setTimeout(r, 1000));
	await pm2("reload", "chatcast-edge"); // (a) rolling restart of every edge
	await new Promise(r => setTimeout(r, 1000));
	const [victim] = await processes("chatcast-edge");
	process.kill(victim.pid, "SIGKILL"); // (b) an edge dies without a goodbye
	await waitFor(
		async () =>
			(await processes("chatcast-edge")).filter(p => p.pm2_env.status === "online" && p.pid !== victim.pid).length === 3,
		30_000,
		"pm2 to restart the killed edge",
	);
	await new Promise(r => setTimeout(r, 1500));
	publishing = false;
	await publisher;

	expect(accepted.size).toBeGreaterThan(50);
	// Every publish was retried until answered, with its own clientMsgId: stored once each, so 1..N.
	const expected = [...accepted].sort((a, b) => a - b);
	expect(expected).toEqual(seqRange(1, accepted.size));
	const reconnects = subscribers.reduce((sum, s) => sum + s.reconnects, 0);
	console.log(
		`zero-loss: ${accepted.size} accepted, ${retriedPublishes} publish retries during restarts, ` +
			`${subscribers.length} subscribers, ${reconnects} reconnects`,
	);
	await expectEachExactlyOnce(
		subscribers.map((s, i) => ({ name: `subscriber ${i + 1}`, received: s.received, expected })),
		{ timeoutMs: 20_000, settleMs: 1000 },
	);
	expect(subscribers.every(s => s.reconnects >= 1)).toBe(true); // every stream was cut at least once
}, 180_000);
