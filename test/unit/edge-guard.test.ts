/**
 * The edge guard as a browser meets it, over real HTTP on an in-process node: preflights never reach
 * an action, a foreign page's "simple" POST is refused before anything is stored, listed origins get
 * CORS headers, and every kind of answer carries nosniff.
 */
import { randomUUID } from "node:crypto";
import { type InProcessNode, startInProcess } from "../support/in-process";
import { request } from "../support/raw-http";

let node: InProcessNode;
let corsNode: InProcessNode;

beforeAll(async () => {
	node = await startInProcess();
	corsNode = await startInProcess({ corsOrigins: ["https://app.example"] });
});
afterAll(async () => {
	await node?.stop();
	await corsNode?.stop();
});

/** The channel as the API reports it: its last seq and its subscribers. */
async function channelState(base: string, channel: string): Promise<{ lastSeq: number; subscribers: number }> {
	const answer = await request(`${base}/api/channels/${channel}`);
	return { lastSeq: Number(answer.json.lastSeq), subscribers: Number(answer.json.subscribers) };
}

test("OPTIONS on the publish route is answered by the guard and stores nothing", async () => {
	const channel = randomUUID();
	const answer = await request(`${node.baseUrl}/api/channels/${channel}/messages`, {
		method: "OPTIONS",
		headers: { "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
	});
	expect(answer.status).toBe(204);
	expect(answer.headers.allow).toBe("GET, POST, OPTIONS");
	expect(answer.headers["x-content-type-options"]).toBe("nosniff");
	expect(await channelState(node.baseUrl, channel)).toEqual({ lastSeq: 0, subscribers: 0 });
});

test("OPTIONS on the events route opens no stream", async () => {
	const channel = randomUUID();
	const answer = await request(`${node.baseUrl}/api/channels/${channel}/events`, {
		method: "OPTIONS",
		headers: { "Access-Control-Request-Method": "GET" },
	});
	expect(answer.status).toBe(204);
	expect(answer.headers["content-type"]).toBeUndefined();
	expect(await channelState(node.baseUrl, channel)).toEqual({ lastSeq: 0, subscribers: 0 });
});

test("a text/plain POST from a foreign page is 403 ORIGIN_NOT_ALLOWED and stores nothing", async () => {
	const channel = randomUUID();
	const answer = await request(`${node.baseUrl}/api/channels/${channel}/messages`, {
		method: "POST",
		headers: { Origin: "https://evil.example", "Content-Type": "text/plain" },
		body: "forged",
	});
	expect(answer.status).toBe(403);
	expect(answer.json.type).toBe("ORIGIN_NOT_ALLOWED");
	expect(answer.headers["access-control-allow-origin"]).toBeUndefined();
	expect(answer.headers["x-content-type-options"]).toBe("nosniff");
	expect((await channelState(node.baseUrl, channel)).lastSeq).toBe(0);
	// The legacy route takes any body as text: the same page cannot post there either.
	const legacy = await request(`${node.baseUrl}/chat/publish/${channel}/mallory`, {
		method: "POST",
		headers: { Origin: "https://evil.example" },
		body: "forged",
	});
	expect(legacy.status).toBe(403);
	expect((await channelState(node.baseUrl, channel)).lastSeq).toBe(0);
});

test("a foreign page cannot open a stream either", async () => {
	const channel = randomUUID();
	const answer = await request(`${node.baseUrl}/api/channels/${channel}/events`, { headers: { Origin: "https://evil.example" } });
	expect(answer.status).toBe(403);
	expect(answer.json.type).toBe("ORIGIN_NOT_ALLOWED");
	expect((await channelState(node.baseUrl, channel)).subscribers).toBe(0);
});

test("the same origin passes", async () => {
	const channel = randomUUID();
	const answer = await request(`${node.baseUrl}/api/channels/${channel}/messages`, {
		method: "POST",
		headers: { Origin: node.baseUrl },
		body: "from the demo page",
	});
	expect(answer.status).toBe(201);
	expect(answer.headers["access-control-allow-origin"]).toBeUndefined();
	expect((await channelState(node.baseUrl, channel)).lastSeq).toBe(1);
});

test("an origin in CORS_ORIGINS gets CORS headers, on the preflight and the POST, and can publish", async () => {
	const channel = randomUUID();
	const url = `${corsNode.baseUrl}/api/channels/${channel}/messages`;
	const preflight = await request(url, {
		method: "OPTIONS",
		headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST" },
	});
	expect(preflight.status).toBe(204);
	expect(preflight.headers["access-control-allow-origin"]).toBe("https://app.example");
	expect(preflight.headers["access-control-allow-methods"]).toContain("POST");
	const answer = await request(url, {
		method: "POST",
		headers: { Origin: "https://app.example", "Content-Type": "application/json" },
		body: JSON.stringify({ text: "hello from the app" }),
	});
	expect(answer.status).toBe(201);
	expect(answer.headers["access-control-allow-origin"]).toBe("https://app.example");
	expect(answer.headers.vary).toContain("Origin");
	// Another origin is still refused on that node.
	const other = await request(url, { method: "POST", headers: { Origin: "https://evil.example" }, body: "x" });
	expect(other.status).toBe(403);
	expect((await channelState(corsNode.baseUrl, channel)).lastSeq).toBe(1);
});

test("API answers, error answers and stream answers carry X-Content-Type-Options: nosniff", async () => {
	const channel = randomUUID();
	const api = await request(`${node.baseUrl}/api/health`);
	expect(api.status).toBe(200);
	const notFound = await request(`${node.baseUrl}/api/nothing-here`);
	expect(notFound.status).toBe(404);
	const invalid = await request(`${node.baseUrl}/api/channels/${channel}/messages`, {
		method: "POST",
		headers: { "Content-Type": "application/xml" },
		body: "<x/>",
	});
	expect(invalid.status).toBe(415);
	const stream = await request(`${node.baseUrl}/api/channels/${channel}/events`);
	stream.close();
	expect(stream.status).toBe(200);
	for (const answer of [api, notFound, invalid, stream]) expect(answer.headers["x-content-type-options"]).toBe("nosniff");
});

describe("IPv6 clients are counted per /64", () => {
	let proxied: InProcessNode;
	beforeAll(async () => {
		// Behind a trusted proxy (this test) the client is the X-Forwarded-For hop: any address it likes.
		proxied = await startInProcess({
			trustProxy: ["127.0.0.1"],
			rateLimits: { publish: { burst: 1, perSecond: 0.01 }, streamOpen: { burst: 100, perSecond: 1 } },
		});
	});
	afterAll(() => proxied?.stop());

	const publishAs = async (client: string): Promise<number> =>
		(
			await request(`${proxied.baseUrl}/api/channels/${randomUUID()}/messages`, {
				method: "POST",
				headers: { "X-Forwarded-For": client },
				body: "hi",
			})
		).status;

	test("another address in the same /64 is the same client; another /64 is not", async () => {
		expect(await publishAs("2001:db8:1:2::a")).toBe(201);
		expect(await publishAs("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe(429);
		expect(await publishAs("2001:0db8:0001:0002::b")).toBe(429);
		expect(await publishAs("2001:db8:1:3::a")).toBe(201);
		// IPv4 addresses stay one client each; so does an address with an IPv4 part (NAT64 shares its prefix).
		expect(await publishAs("203.0.113.1")).toBe(201);
		expect(await publishAs("203.0.113.2")).toBe(201);
		expect(await publishAs("64:ff9b::203.0.113.1")).toBe(201);
		expect(await publishAs("64:ff9b::203.0.113.2")).toBe(201);
	});
});
