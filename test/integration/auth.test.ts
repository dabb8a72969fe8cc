/**
 * Identity on real node processes over real HTTP: where a token travels, every reason it is refused
 * (401 with WWW-Authenticate, never a 5xx), channel-scoped tokens (403), the author and userId taken from
 * the token, `system` reserved, AUTH_MODE=all for streams and history, a stream that ends with its token
 * and resumes with a fresh one without loss, rate limits per user, and no token in any log line.
 */
import { randomUUID } from "node:crypto";
import { expectExactlyOnce, seqRange } from "../support/exactly-once";
import { type ChatcastNode, startNode, uniqueNamespace, waitFor } from "../support/node-process";
import { type RawAnswer, request } from "../support/raw-http";
import { openStream } from "../support/sse-client";
import { type Claims, hsToken, nowSeconds, unsignedToken } from "../support/tokens";

const SECRET = "integration-auth-secret-0123456789abcdef";
const ISSUER = "https://login.example.com/";
const AUDIENCE = "chatcast-test";

const started: ChatcastNode[] = [];
async function node(env: Record<string, string>): Promise<ChatcastNode> {
	const n = await startNode({ namespace: uniqueNamespace("auth"), env });
	started.push(n);
	await waitFor(async () => (await request(`${n.baseUrl}/api/ready`)).status === 200, 15_000, "node ready");
	return n;
}
afterAll(async () => {
	await Promise.all(started.map(n => n.stop()));
});

const token = (claims: Claims, secret = SECRET): Promise<string> => hsToken(secret, { iss: ISSUER, aud: AUDIENCE, ...claims });
const bearer = (jwt: string): Record<string, string> => ({ Authorization: `Bearer ${jwt}` });

function publish(
	base: string,
	channel: string,
	headers: Record<string, string> = {},
	body: object = { text: "hi" },
	from?: string,
) {
	return request(`${base}/api/channels/${channel}/messages`, {
		method: "POST",
		from,
		headers: { "Content-Type": "application/json", ...headers },
		body: JSON.stringify(body),
	});
}

function expectUnauthorized(answer: RawAnswer, reason: string): void {
	expect({ status: answer.status, type: answer.json.type, reason: answer.json.data?.reason }).toEqual({
		status: 401,
		type: "UNAUTHORIZED",
		reason,
	});
	expect(answer.headers["content-type"]).toMatch(/^application\/json/);
	expect(answer.headers["www-authenticate"]).toMatch(/^Bearer realm="chatcast"/);
}

describe("AUTH_JWT_SECRET, AUTH_MODE=publish (the default)", () => {
	let edge: ChatcastNode;
	beforeAll(async () => {
		edge = await node({ AUTH_JWT_SECRET: SECRET, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, LOG_LEVEL: "info" });
	}, 30_000);

	test("GET /api/limits tells clients that publishing needs a token", async () => {
		expect((await request(`${edge.baseUrl}/api/limits`)).json.auth).toBe("publish");
	});

	test("a publish without a token is 401 (missing), with WWW-Authenticate: Bearer", async () => {
		const answer = await publish(edge.baseUrl, randomUUID());
		expectUnauthorized(answer, "missing");
		expect(answer.headers["www-authenticate"]).toBe('Bearer realm="chatcast"');
	});

	test("each token source works: Bearer, the chatcast_token cookie, ?access_token=", async () => {
		const channel = randomUUID();
		const jwt = await token({ sub: "u-ada", name: "Ada" });
		const byHeader = await publish(edge.baseUrl, channel, bearer(jwt));
		const byCookie = await publish(edge.baseUrl, channel, { Cookie: `theme=dark; chatcast_token=${jwt}` });
		const byQuery = await request(`${edge.baseUrl}/api/channels/${channel}/messages?access_token=${jwt}`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ text: "by query" }),
		});
		expect([byHeader.status, byCookie.status, byQuery.status]).toEqual([201, 201, 201]);
		expect(byQuery.json.userId).toBe("u-ada");
	});

	test("the token says who: author = name (else sub), userId = sub; body author and userId are ignored", async () => {
		const channel = randomUUID();
		const named = await publish(edge.baseUrl, channel, bearer(await token({ sub: "u-1", name: "Ada" })), {
			text: "one",
			author: "mallory",
			userId: "u-admin",
		});
		expect(named.status).toBe(201);
		expect({ author: named.json.author, userId: named.json.userId }).toEqual({ author: "Ada", userId: "u-1" });
		const unnamed = await publish(edge.baseUrl, channel, bearer(await token({ sub: "u-2" })), { text: "two" });
		expect({ author: unnamed.json.author, userId: unnamed.json.userId }).toEqual({ author: "u-2", userId: "u-2" });
		// The legacy route's author is ignored too.
		const legacy = await request(`${edge.baseUrl}/chat/publish/${channel}/mallory`, {
			method: "POST",
			headers: bearer(await token({ sub: "u-3", name: "Cy" })),
			body: "three",
		});
		expect({ status: legacy.status, author: legacy.json.author, userId: legacy.json.userId }).toEqual({
			status: 201,
			author: "Cy",
			userId: "u-3",
		});
		// Stored with the message: the history page and the stream (SSE data) carry userId.
		const page = await request(`${edge.baseUrl}/api/channels/${channel}/messages?after=0`);
		const messages = page.json.messages as Array<{ author: string; userId?: string }>;
		expect(messages.map(m => [m.author, m.userId])).toEqual([
			["Ada", "u-1"],
			["u-2", "u-2"],
			["Cy", "u-3"],
		]);
		const stream = await openStream(`${edge.baseUrl}/api/channels/${channel}/events`, { lastEventId: 0 });
		const replayed = await stream.waitForMessages(3);
		stream.close();
		expect(replayed.map(m => m.userId)).toEqual(["u-1", "u-2", "u-3"]);
	});

	test("every bad token is 401 with its reason, never a 5xx", async () => {
		const channel = randomUUID();
		const now = nowSeconds();
		const cases: Array<[string, string]> = [
			["malformed", "not-a-jwt"],
			["malformed", "a.b.c"],
			["bad_signature", await token({ sub: "u" }, "another-secret-of-32-characters-at-least")],
			["expired", await token({ sub: "u", exp: now - 5 })],
			["not_yet_valid", await token({ sub: "u", nbf: now + 600 })],
			["algorithm_not_allowed", unsignedToken({ sub: "u", iss: ISSUER, aud: AUDIENCE })],
			["wrong_issuer", await token({ sub: "u", iss: "https://evil.example.com/" })],
			["wrong_audience", await token({ sub: "u", aud: "other-app" })],
			["missing_claim", await hsToken(SECRET, { iss: ISSUER, aud: AUDIENCE, name: "no sub" })],
			["invalid_claims", await token({ sub: "u", channels: "c3743620" })],
			["invalid_claims", await token({ sub: "bad\u0000sub" })],
		];
		const missingExp = await hsToken(SECRET, { sub: "u", iss: ISSUER, aud: AUDIENCE, exp: undefined });
		cases.push(["missing_claim", missingExp]);
		for (const [reason, jwt] of cases) expectUnauthorized(await publish(edge.baseUrl, channel, bearer(jwt)), reason);
		// Not "Bearer <token>": refused, not ignored.
		expectUnauthorized(await publish(edge.baseUrl, channel, { Authorization: "Basic dXNlcjpwYXNz" }), "malformed");
		expect((await request(`${edge.baseUrl}/api/channels/${channel}/messages?after=0`)).json.lastSeq).toBe(0);
	});

	test('channels: a listed channel and "*" may publish, another channel is 403 FORBIDDEN', async () => {
		const [mine, other] = [randomUUID(), randomUUID()];
		const scoped = await token({ sub: "u-s", channels: [mine.toUpperCase()] });
		expect((await publish(edge.baseUrl, mine, bearer(scoped))).status).toBe(201);
		const refused = await publish(edge.baseUrl, other, bearer(scoped));
		expect({ status: refused.status, type: refused.json.type, channel: refused.json.data?.channel }).toEqual({
			status: 403,
			type: "FORBIDDEN",
			channel: other,
		});
		expect((await publish(edge.baseUrl, other, bearer(await token({ sub: "u-s", channels: "*" })))).status).toBe(201);
		// A token presented on a read is checked too, even where reads need none.
		expect((await request(`${edge.baseUrl}/api/channels/${other}/messages`, { headers: bearer(scoped) })).status).toBe(403);
	});

	test('no HTTP publish appears as "system": a token named so is 400 INVALID_AUTHOR', async () => {
		const answer = await publish(edge.baseUrl, randomUUID(), bearer(await token({ sub: "u-x", name: "System" })));
		expect({ status: answer.status, type: answer.json.type }).toEqual({ status: 400, type: "INVALID_AUTHOR" });
	});

	test("streams and history need no token in publish mode; a stream's token is verified when given", async () => {
		const channel = randomUUID();
		const open = await request(`${edge.baseUrl}/api/channels/${channel}/events`);
		expect(open.status).toBe(200);
		open.close();
		expect((await request(`${edge.baseUrl}/api/channels/${channel}/messages`)).status).toBe(200);
		expectUnauthorized(await request(`${edge.baseUrl}/api/channels/${channel}/events?access_token=garbage`), "malformed");
	});

	test("no access_token (nor the page's ?token=) reaches a log line", async () => {
		const channel = randomUUID();
		const jwt = await token({ sub: "u-log" });
		const stream = await request(`${edge.baseUrl}/api/channels/${channel}/events?lastEventId=0&access_token=${jwt}`);
		expect(stream.status).toBe(200);
		stream.close();
		await request(`${edge.baseUrl}/api/channels/${channel}/messages?access_token=${jwt}&after=0`);
		await request(`${edge.baseUrl}/?c=${channel}&token=${jwt}`);
		await request(`${edge.baseUrl}/api/channels/${channel}/messages?access_token=${jwt}`, { method: "POST", body: "x" });
		// The request log names paths relative to the route (/api is the route's).
		await waitFor(() => edge.output().includes(`/?c=${channel}`), 5000, "the page request's log line");
		await waitFor(() => edge.output().includes(`/channels/${channel}/events?lastEventId=0 200`), 5000, "the stream's log line");
		await waitFor(() => edge.output().includes(`POST /channels/${channel}/messages 201`), 5000, "the publish's log line");
		expect(edge.output()).toContain(`/channels/${channel}/messages?after=0 200`);
		expect(edge.output()).not.toContain(jwt);
		expect(edge.output()).not.toContain("access_token");
	});
});

describe("AUTH_MODE=all: streams and history reads need a token too", () => {
	let edge: ChatcastNode;
	beforeAll(async () => {
		edge = await node({ AUTH_JWT_SECRET: SECRET, AUTH_MODE: "all" });
	}, 30_000);

	test("reads without a token are 401; with one they work; a channel outside the token is 403", async () => {
		const channel = randomUUID();
		expect((await request(`${edge.baseUrl}/api/limits`)).json.auth).toBe("all");
		expectUnauthorized(await request(`${edge.baseUrl}/api/channels/${channel}/events`), "missing");
		expectUnauthorized(await request(`${edge.baseUrl}/chat/receive/${channel}`), "missing");
		expectUnauthorized(await request(`${edge.baseUrl}/api/channels/${channel}/messages`), "missing");
		expectUnauthorized(await request(`${edge.baseUrl}/api/channels/${channel}`), "missing");
		const jwt = await hsToken(SECRET, { sub: "reader", channels: [channel] });
		expect((await request(`${edge.baseUrl}/api/channels/${channel}/messages`, { headers: bearer(jwt) })).status).toBe(200);
		expect((await request(`${edge.baseUrl}/api/channels/${channel}`, { headers: bearer(jwt) })).status).toBe(200);
		const stream = await request(`${edge.baseUrl}/api/channels/${channel}/events?access_token=${jwt}`);
		expect(stream.status).toBe(200);
		stream.close();
		const other = await request(`${edge.baseUrl}/api/channels/${randomUUID()}/events?access_token=${jwt}`);
		expect({ status: other.status, type: other.json.type }).toEqual({ status: 403, type: "FORBIDDEN" });
		// Health, readiness and limits stay open.
		expect((await request(`${edge.baseUrl}/api/health`)).status).toBe(200);
	});

	test("a stream ends with its token (event: expired) and resumes with a fresh one via Last-Event-ID, missing nothing", async () => {
		const channel = randomUUID();
		const writer = await hsToken(SECRET, { sub: "writer" });
		const send = async (n: number): Promise<void> => {
			for (let i = 0; i < n; i++)
				expect((await publish(edge.baseUrl, channel, bearer(writer), { text: `m${i}` })).status).toBe(201);
		};
		await send(3);
		const shortLived = await hsToken(SECRET, { sub: "reader", exp: nowSeconds() + 2 });
		const received: number[] = [];
		const first = await openStream(`${edge.baseUrl}/api/channels/${channel}/events`, {
			lastEventId: 0,
			headers: bearer(shortLived),
			onMessage: m => received.push(m.seq),
		});
		expect(first.status).toBe(200);
		await first.waitForMessages(3);
		const sending = send(15); // keeps publishing across the expiry
		const expired = await first.waitForEvent("expired", 5000);
		expect(JSON.parse(expired.data)).toEqual({ reason: "token_expired" });
		await waitFor(() => first.ended, 3000, "the expired stream to end");
		// The old token no longer opens a stream.
		expectUnauthorized(
			await request(`${edge.baseUrl}/api/channels/${channel}/events`, { headers: bearer(shortLived) }),
			"expired",
		);
		const fresh = await hsToken(SECRET, { sub: "reader" });
		const lastId = received[received.length - 1];
		const second = await openStream(`${edge.baseUrl}/api/channels/${channel}/events`, {
			lastEventId: lastId,
			headers: bearer(fresh),
			onMessage: m => received.push(m.seq),
		});
		await sending;
		await send(2);
		await second.waitForMessages(20 - lastId);
		second.close();
		expectExactlyOnce(received, seqRange(1, 20), "reader");
	}, 20_000);
});

describe("auth off (no key)", () => {
	let edge: ChatcastNode;
	beforeAll(async () => {
		edge = await node({});
	}, 30_000);

	test('anyone may publish, but not as "system" (reserved for the operator REPL): 400 INVALID_AUTHOR', async () => {
		const channel = randomUUID();
		expect((await request(`${edge.baseUrl}/api/limits`)).json.auth).toBe("off");
		expect((await publish(edge.baseUrl, channel, {}, { text: "hi", author: "ada" })).status).toBe(201);
		for (const author of ["system", " SYSTEM "]) {
			const answer = await publish(edge.baseUrl, channel, {}, { text: "hi", author });
			expect({ status: answer.status, type: answer.json.type }).toEqual({ status: 400, type: "INVALID_AUTHOR" });
		}
		const legacy = await request(`${edge.baseUrl}/chat/publish/${channel}/system`, { method: "POST", body: "x" });
		expect({ status: legacy.status, type: legacy.json.type }).toEqual({ status: 400, type: "INVALID_AUTHOR" });
	});
});

describe("rate limits key on the user when there is one", () => {
	let edge: ChatcastNode;
	beforeAll(async () => {
		edge = await node({ AUTH_JWT_SECRET: SECRET, RATE_LIMITS: "on", PUBLISH_BURST: "3", PUBLISH_RATE: "0.2" });
	}, 30_000);

	test("one user over two addresses shares one bucket; another user on the same address has its own", async () => {
		const channel = randomUUID();
		const ada = bearer(await hsToken(SECRET, { sub: "ada" }));
		const bob = bearer(await hsToken(SECRET, { sub: "bob" }));
		const statuses: number[] = [];
		for (let i = 0; i < 4; i++)
			statuses.push((await publish(edge.baseUrl, channel, ada, { text: "a" }, i % 2 ? "127.0.0.2" : "127.0.0.3")).status);
		expect(statuses).toEqual([201, 201, 201, 429]);
		expect((await publish(edge.baseUrl, channel, bob, { text: "b" }, "127.0.0.2")).status).toBe(201);
	});
});
