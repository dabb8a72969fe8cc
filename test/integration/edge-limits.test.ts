/**
 * The edge's limits against hostile clients, on real node processes: rate limits shared by every edge
 * over Redis, stream bounds per address and per edge, slow-request timeouts, and a metrics endpoint that
 * tells nothing about the host. Loopback source addresses (127.0.0.2, 127.0.0.3, …) stand for clients.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import os from "node:os";
import { type ChatcastNode, freePort, startNode, uniqueNamespace, waitFor } from "../support/node-process";
import { type RawAnswer, request } from "../support/raw-http";

const started: ChatcastNode[] = [];
async function node(namespace: string, services: string[], env: Record<string, string>): Promise<ChatcastNode> {
	const started_ = await startNode({ namespace, services, env });
	started.push(started_);
	return started_;
}
afterAll(async () => {
	await Promise.all(started.map(n => n.stop()));
});

const publish = (base: string, channel: string, from: string): Promise<RawAnswer> =>
	request(`${base}/api/channels/${channel}/messages`, { method: "POST", from, body: `from ${from}` });
const openEvents = (base: string, channel: string, from: string): Promise<RawAnswer> =>
	request(`${base}/api/channels/${channel}/events`, { from });

function expectRefused(answer: RawAnswer, code: number, type: string): void {
	expect({ status: answer.status, type: answer.json.type }).toEqual({ status: code, type });
	expect(answer.headers["content-type"]).toMatch(/^application\/json/);
}

/** `Retry-After` and `data.retryAfterSeconds` agree; returns the seconds. */
function retryAfter(answer: RawAnswer): number {
	const seconds = Number(answer.headers["retry-after"]);
	expect(seconds).toBeGreaterThanOrEqual(1);
	expect(answer.json.data?.retryAfterSeconds).toBe(seconds);
	return seconds;
}

describe("rate limits are shared by every edge on the same Redis", () => {
	let edges: ChatcastNode[];
	beforeAll(async () => {
		const ns = uniqueNamespace("abuse-rate");
		// Slow refill (one token per 2 s) so a burst used up stays used up while the test runs.
		const env = { RATE_LIMITS: "on", PUBLISH_BURST: "3", PUBLISH_RATE: "0.5", STREAM_OPEN_BURST: "3", STREAM_OPEN_RATE: "0.5" };
		await node(ns, ["ingest", "history"], env);
		edges = [await node(ns, ["api", "broadcast"], env), await node(ns, ["api", "broadcast"], env)];
		await waitFor(async () => (await request(`${edges[0].baseUrl}/api/ready`)).status === 200, 15_000, "edge ready");
		await waitFor(async () => (await request(`${edges[1].baseUrl}/api/ready`)).status === 200, 15_000, "edge ready");
	}, 60_000);

	test("publishing: one address alternating between both edges gets one burst in all", async () => {
		const channel = randomUUID();
		const answers: RawAnswer[] = [];
		for (let i = 0; i < 4; i++) answers.push(await publish(edges[i % 2].baseUrl, channel, "127.0.0.2"));
		expect(answers.slice(0, 3).map(a => a.status)).toEqual([201, 201, 201]);
		const refused = answers[3];
		expectRefused(refused, 429, "RATE_LIMITED");
		expect(refused.json.data?.action).toBe("publish");
		const seconds = retryAfter(refused);
		// The other edge refuses it too, and another address is not affected.
		expectRefused(await publish(edges[0].baseUrl, channel, "127.0.0.2"), 429, "RATE_LIMITED");
		expect((await publish(edges[0].baseUrl, channel, "127.0.0.3")).status).toBe(201);
		expect((await publish(edges[1].baseUrl, channel, "127.0.0.3")).status).toBe(201);
		await new Promise(r => setTimeout(r, seconds * 1000));
		expect((await publish(edges[1].baseUrl, channel, "127.0.0.2")).status).toBe(201);
	}, 20_000);

	test("an X-Forwarded-For the edge does not trust (no TRUST_PROXY) does not make a new client", async () => {
		const channel = randomUUID();
		const statuses: number[] = [];
		for (let i = 0; i < 4; i++) {
			const answer = await request(`${edges[i % 2].baseUrl}/api/channels/${channel}/messages`, {
				method: "POST",
				from: "127.0.0.6",
				headers: { "X-Forwarded-For": `203.0.113.${i + 1}` },
				body: "spoofed",
			});
			statuses.push(answer.status);
		}
		expect(statuses).toEqual([201, 201, 201, 429]);
	});

	test("stream opens: the same, with action streamOpen", async () => {
		const channel = randomUUID();
		const answers: RawAnswer[] = [];
		for (let i = 0; i < 4; i++) answers.push(await openEvents(edges[i % 2].baseUrl, channel, "127.0.0.4"));
		for (const answer of answers) answer.close();
		expect(answers.map(a => a.status)).toEqual([200, 200, 200, 429]);
		expectRefused(answers[3], 429, "RATE_LIMITED");
		expect(answers[3].json.data?.action).toBe("streamOpen");
		const seconds = retryAfter(answers[3]);
		const other = await openEvents(edges[1].baseUrl, channel, "127.0.0.5");
		other.close();
		expect(other.status).toBe(200);
		await new Promise(r => setTimeout(r, seconds * 1000));
		const again = await openEvents(edges[0].baseUrl, channel, "127.0.0.4");
		again.close();
		expect(again.status).toBe(200);
	}, 20_000);
});

describe("stream bounds per address, per address's channels and per edge", () => {
	let edge: ChatcastNode;
	const open: RawAnswer[] = [];
	beforeAll(async () => {
		edge = await node(uniqueNamespace("abuse-streams"), ["api", "ingest", "history", "broadcast"], {
			STREAMS_PER_CLIENT: "3",
			STREAM_CHANNELS_PER_CLIENT: "2",
			STREAMS_PER_EDGE: "6",
		});
	}, 30_000);
	afterAll(() => {
		for (const stream of open) stream.close();
	});

	async function opened(channel: string, from: string): Promise<RawAnswer> {
		const answer = await openEvents(edge.baseUrl, channel, from);
		expect(answer.status).toBe(200);
		open.push(answer);
		return answer;
	}
	/** Once the edge has seen a closed stream go, the place is free again: retried until it opens. */
	const reopened = (channel: string, from: string): Promise<RawAnswer> =>
		waitFor(
			async () => {
				const answer = await openEvents(edge.baseUrl, channel, from);
				if (answer.status !== 200) return null;
				open.push(answer);
				return answer;
			},
			5000,
			`a stream from ${from}`,
		);

	test("refusals are JSON with the documented types; closing frees places; addresses are counted apart", async () => {
		const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
		const first = await opened(a, "127.0.0.2");
		await opened(a, "127.0.0.2");
		await opened(b, "127.0.0.2");
		const client = await openEvents(edge.baseUrl, a, "127.0.0.2");
		expectRefused(client, 429, "TOO_MANY_STREAMS");
		expect(client.json.data?.limit).toBe("client");

		// Another address has its own count…
		await opened(a, "127.0.0.3");
		await opened(b, "127.0.0.3");
		// …and its own channels: a third distinct one is refused, one it follows is not.
		const channels = await openEvents(edge.baseUrl, c, "127.0.0.3");
		expectRefused(channels, 429, "TOO_MANY_STREAMS");
		expect(channels.json.data?.limit).toBe("channels");
		await opened(a, "127.0.0.3");

		// Six streams: the edge is full, for an address that holds none as well.
		const full = await openEvents(edge.baseUrl, a, "127.0.0.4");
		expectRefused(full, 503, "EDGE_FULL");
		expect(Number(full.headers["retry-after"])).toBeGreaterThanOrEqual(1);

		first.close();
		await reopened(c, "127.0.0.4");
		const stillClient = await openEvents(edge.baseUrl, a, "127.0.0.4");
		expectRefused(stillClient, 503, "EDGE_FULL");
		open[open.length - 1].close();
		// 127.0.0.2 closed one of its three: it may open one again (on a channel it still follows).
		await reopened(a, "127.0.0.2");
	}, 20_000);
});

describe("a stream whose client leaves while it is admitted", () => {
	test("frees its place: clients that open and drop at once cannot fill the edge", async () => {
		// Admission waits for the shared (Redis) stream-open bucket: a client gone meanwhile must not keep a place.
		const edge = await node(uniqueNamespace("abuse-drop"), ["api", "ingest", "history", "broadcast"], {
			RATE_LIMITS: "on",
			STREAM_OPEN_BURST: "1000",
			STREAMS_PER_EDGE: "5",
			STREAMS_PER_CLIENT: "5",
		});
		const channel = randomUUID();
		for (let i = 0; i < 50; i++) {
			const socket = net.connect(edge.port, "127.0.0.1", () => {
				socket.end(`GET /api/channels/${channel}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
				socket.destroy();
			});
			socket.on("error", () => undefined);
			await new Promise(r => socket.once("close", r));
		}
		const streams = await waitFor(
			async () => {
				const open = await Promise.all(Array.from({ length: 5 }, () => openEvents(edge.baseUrl, channel, "127.0.0.2")));
				for (const stream of open) stream.close();
				return open.every(stream => stream.status === 200) && open;
			},
			5000,
			"five places free",
		);
		expect(streams.map(s => s.status)).toEqual([200, 200, 200, 200, 200]);
	}, 20_000);
});

describe("slow requests are cut off; open streams are not", () => {
	let edge: ChatcastNode;
	const headersTimeoutMs = 1000;
	const requestTimeoutMs = 3000;
	/** Node checks the timeouts once a second (connectionsCheckingInterval), plus scheduling slack. */
	const checkSlackMs = 1000 + 700;
	beforeAll(async () => {
		edge = await node(uniqueNamespace("abuse-slow"), ["api", "ingest", "history", "broadcast"], {
			HTTP_HEADERS_TIMEOUT_MS: String(headersTimeoutMs),
			HTTP_REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
		});
	}, 30_000);

	/** Sends `head` at once, then `trickle` a byte per 300 ms; resolves with the ms until the server closed the socket. */
	function trickle(head: string, slow: string): Promise<{ ms: number; answer: string }> {
		return new Promise((resolve, reject) => {
			const socket = net.connect(edge.port, "127.0.0.1");
			const begun = Date.now();
			let answer = "";
			let sent = 0;
			const timer = setInterval(() => {
				if (sent < slow.length && !socket.destroyed) socket.write(slow[sent++]);
			}, 300);
			socket.setEncoding("utf8");
			socket.on("data", (chunk: string) => {
				answer += chunk;
			});
			socket.on("error", () => undefined);
			socket.on("close", () => {
				clearInterval(timer);
				resolve({ ms: Date.now() - begun, answer });
			});
			socket.write(head, err => err && reject(err));
		});
	}

	test("headers sent a byte per 300 ms are cut off after HTTP_HEADERS_TIMEOUT_MS", async () => {
		const { ms, answer } = await trickle("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", `X-Slow: ${"a".repeat(100)}\r\n\r\n`);
		expect(ms).toBeGreaterThanOrEqual(headersTimeoutMs - 100);
		expect(ms).toBeLessThanOrEqual(headersTimeoutMs + checkSlackMs);
		expect(answer).not.toMatch(/^HTTP\/1.1 200/);
	}, 15_000);

	test("a connection that sends nothing is cut off after HTTP_HEADERS_TIMEOUT_MS too", async () => {
		const { ms } = await trickle("", "");
		expect(ms).toBeGreaterThanOrEqual(headersTimeoutMs - 100);
		expect(ms).toBeLessThanOrEqual(headersTimeoutMs + checkSlackMs);
	}, 15_000);

	test("a body sent a byte per 300 ms is cut off after HTTP_REQUEST_TIMEOUT_MS", async () => {
		const channel = randomUUID();
		const body = "b".repeat(100);
		const { ms, answer } = await trickle(
			`POST /api/channels/${channel}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`,
			body,
		);
		expect(ms).toBeGreaterThanOrEqual(requestTimeoutMs - 100);
		expect(ms).toBeLessThanOrEqual(requestTimeoutMs + checkSlackMs);
		expect(answer).not.toMatch(/^HTTP\/1.1 201/);
		expect((await request(`${edge.baseUrl}/api/channels/${channel}/messages`)).json.lastSeq).toBe(0);
	}, 15_000);

	test("an SSE stream open longer than both timeouts stays open and delivers", async () => {
		const channel = randomUUID();
		const stream = await openEvents(edge.baseUrl, channel, "127.0.0.2");
		try {
			expect(stream.status).toBe(200);
			await new Promise(r => setTimeout(r, requestTimeoutMs + checkSlackMs + 500));
			expect(stream.ended).toBe(false);
			expect((await publish(edge.baseUrl, channel, "127.0.0.3")).status).toBe(201);
			await waitFor(() => stream.text.includes("from 127.0.0.3"), 5000, "the message on the old stream");
		} finally {
			stream.close();
		}
	}, 20_000);
});

describe("the metrics endpoint", () => {
	const scrape = async (port: number): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
	/** What Moleculer's detailed OS metrics tell about the host: name, user, MACs, and this node's command line. */
	const hostDetails = (): string[] => {
		const macs = Object.values(os.networkInterfaces())
			.flatMap(list => list ?? [])
			.map(i => i.mac)
			.filter(mac => mac !== "00:00:00:00:00:00");
		// Quoted: hostname and user are label values, and a short name ("vm") is a substring of metric names.
		return [`"${os.hostname()}"`, `"${os.userInfo().username}"`, ...macs, "dist/src/bin/start.js"];
	};
	/** A non-loopback address of this machine, if it has one. */
	const outsideAddress = Object.values(os.networkInterfaces())
		.flatMap(list => list ?? [])
		.find(i => i.family === "IPv4" && !i.internal)?.address;

	test("listens on 127.0.0.1 only, and tells nothing about the host unless METRICS_DETAILED=true", async () => {
		const ns = uniqueNamespace("abuse-metrics");
		const port = await freePort();
		// Two ports, never one: the endpoint listens with SO_REUSEPORT, so both nodes could share it.
		const detailedPort = await waitFor(async () => {
			const other = await freePort();
			return other !== port && other;
		});
		await node(ns, ["api", "ingest", "history", "broadcast"], { METRICS_PORT: String(port) });
		await node(ns, ["api", "ingest", "history", "broadcast"], { METRICS_PORT: String(detailedPort), METRICS_DETAILED: "true" });
		const text = await waitFor(() => scrape(port), 10_000, "metrics");
		expect(text).toMatch(/^process_memory_rss\{/m);
		for (const detail of hostDetails()) expect(text).not.toContain(detail);
		// The control: the same details are on the detailed endpoint, so the check above can see them.
		const detailed = await waitFor(() => scrape(detailedPort), 10_000, "detailed metrics");
		for (const detail of hostDetails()) expect(detailed).toContain(detail);

		// The listening socket itself: loopback only (what `ss` shows whether or not there is another address).
		const listening = execFileSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" })
			.trim()
			.split("\n");
		expect(listening.map(line => line.split(/\s+/)[3])).toEqual(listening.map(() => `127.0.0.1:${port}`));
		if (outsideAddress === undefined) return;
		const refused = await new Promise<string>(resolve => {
			const socket = net.connect(port, outsideAddress);
			socket.on("connect", () => {
				socket.destroy();
				resolve("connected");
			});
			socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
		});
		expect(refused).toBe("ECONNREFUSED");
	}, 40_000);
});
