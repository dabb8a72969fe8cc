/**
 * Fuzzed tokens (fast-check) against one in-process node with auth on (AUTH_MODE=all, issuer and
 * audience set), over real HTTP: garbage, truncated and bit-flipped tokens, `alg: none`, the wrong key,
 * the wrong audience or issuer, expired ones and ones not valid yet, arbitrary headers and claims, sent
 * by every token source to every channel route. Each is 401 UNAUTHORIZED as JSON with
 * `WWW-Authenticate: Bearer`, never a 5xx; a good token on the same routes is accepted.
 *
 * The seed is fixed under CI and new on every other run; FUZZ_SEED=<n> replays one.
 */
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import fc from "fast-check";
import { type InProcessNode, startInProcess } from "../support/in-process";
import { hsToken, nowSeconds, signToken, unsignedToken } from "../support/tokens";

const SECRET = "fuzz-auth-secret-0123456789abcdef012345";
const ISSUER = "https://login.example.com/";
const AUDIENCE = "chatcast";
const CI_SEED = 20261211;
const SEED = Number(process.env.FUZZ_SEED ?? (process.env.CI ? CI_SEED : Math.floor(Math.random() * 2 ** 31)));
const RUNS = 400;

let node: InProcessNode;
const channel = randomUUID();
let good = "";

beforeAll(async () => {
	node = await startInProcess({ auth: { secret: SECRET, issuer: ISSUER, audience: AUDIENCE, mode: "all" } });
	good = await hsToken(SECRET, { sub: "fuzz", iss: ISSUER, aud: AUDIENCE });
});
afterAll(async () => {
	await node.stop();
	console.log(`fuzz-auth: seed ${SEED}`);
});

type Source = "bearer" | "cookie" | "query";
type Route = "publish" | "history" | "stream" | "summary" | "legacy-publish" | "legacy-stream";

interface Answer {
	status: number;
	type?: string;
	contentType?: string;
	wwwAuthenticate?: string;
}

function send(route: Route, source: Source, token: string): Promise<Answer> {
	const paths: Record<Route, [string, string]> = {
		publish: ["POST", `/api/channels/${channel}/messages`],
		history: ["GET", `/api/channels/${channel}/messages`],
		stream: ["GET", `/api/channels/${channel}/events`],
		summary: ["GET", `/api/channels/${channel}`],
		"legacy-publish": ["POST", `/chat/publish/${channel}/someone`],
		"legacy-stream": ["GET", `/chat/receive/${channel}`],
	};
	const [method, base] = paths[route];
	const headers: Record<string, string> = { "Content-Type": "text/plain" };
	if (source === "bearer") headers.Authorization = `Bearer ${token}`;
	if (source === "cookie") headers.Cookie = `chatcast_token=${token}`;
	const path = source === "query" ? `${base}?access_token=${encodeURIComponent(token)}` : base;
	const body = method === "POST" ? "fuzzed" : undefined;
	const { port } = new URL(node.baseUrl);
	return new Promise((resolve, reject) => {
		const req = httpRequest({ host: "127.0.0.1", port, method, path, headers }, res => {
			const status = res.statusCode ?? 0;
			const answer: Answer = {
				status,
				contentType: res.headers["content-type"],
				wwwAuthenticate: res.headers["www-authenticate"],
			};
			if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
				req.destroy();
				return resolve(answer);
			}
			let text = "";
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => {
				text += chunk;
			});
			res.on("end", () => {
				try {
					answer.type = (JSON.parse(text) as { type?: string }).type;
				} catch {
					// not JSON: the assertion below names it
				}
				resolve(answer);
			});
		});
		req.on("error", reject);
		req.end(body);
	});
}

/** Header-safe text: what a token in a header or cookie can be. */
const printable = fc.stringMatching(/^[\x21-\x3a\x3c-\x7e]{0,400}$/);
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
const claims = fc.record(
	{
		sub: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.constant(undefined)),
		name: fc.oneof(fc.string({ maxLength: 80 }), fc.constant(null)),
		exp: fc.oneof(fc.integer(), fc.double(), fc.string()),
		channels: fc.oneof(fc.constant("*"), fc.array(fc.string()), fc.string()),
		iss: fc.string(),
		aud: fc.oneof(fc.string(), fc.array(fc.string())),
	},
	{ requiredKeys: [] },
);

/** Every kind of bad token. */
const badToken: fc.Arbitrary<Promise<string>> = fc.oneof(
	printable.map(async s => s),
	fc.tuple(fc.nat(), fc.constant(null)).map(async ([cut]) => good.slice(0, cut % good.length)),
	fc.tuple(fc.nat(), fc.constantFrom("A", "B", "_", "-", ".")).map(async ([at, c]) => {
		const i = at % good.length;
		const flipped = `${good.slice(0, i)}${c}${good.slice(i + 1)}`;
		return flipped === good ? `${good}x` : flipped;
	}),
	claims.map(async c => unsignedToken({ ...c, sub: "fuzz", iss: ISSUER, aud: AUDIENCE })),
	fc
		.tuple(fc.string({ minLength: 32, maxLength: 64 }), claims)
		.map(([secret, c]) => hsToken(secret === SECRET ? `${secret}!` : secret, { ...c, sub: "fuzz", iss: ISSUER, aud: AUDIENCE })),
	fc.string({ minLength: 1, maxLength: 20 }).map(aud => hsToken(SECRET, { sub: "fuzz", iss: ISSUER, aud: `x${aud}` })),
	fc.string({ minLength: 1, maxLength: 20 }).map(iss => hsToken(SECRET, { sub: "fuzz", iss: `x${iss}`, aud: AUDIENCE })),
	fc
		.integer({ min: 1, max: 10 ** 9 })
		.map(ago => hsToken(SECRET, { sub: "fuzz", iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() - ago })),
	fc
		.integer({ min: 60, max: 10 ** 9 })
		.map(ahead => hsToken(SECRET, { sub: "fuzz", iss: ISSUER, aud: AUDIENCE, nbf: nowSeconds() + ahead })),
	// Arbitrary header and claims, signed with the right secret: any algorithm but HS256, or claims that do not fit.
	fc
		.tuple(
			fc.constantFrom("none", "HS384", "HS512", "RS256", "ES256", "EdDSA", "hs256", ""),
			claims,
			fc.string({ maxLength: 40 }),
		)
		.map(async ([alg, c, sig]) => `${b64({ alg, typ: "JWT" })}.${b64(c)}.${Buffer.from(sig).toString("base64url")}`),
	// Claims that do not fit, with the right signature: each case spoils one claim of arbitrary others.
	fc
		.tuple(
			claims,
			fc.constantFrom<Record<string, unknown>>(
				{ sub: 7 },
				{ sub: "" },
				{ sub: "x".repeat(65) },
				{ exp: "tomorrow" },
				{ channels: "general" },
				{ channels: ["not-a-uuid"] },
				{ name: 5 },
				{ name: "\u200b" },
			),
		)
		.map(([c, spoiled]) =>
			signToken(new TextEncoder().encode(SECRET), "HS256", { sub: "fuzz", ...c, ...spoiled, iss: ISSUER, aud: AUDIENCE }),
		),
);

test("a good token is accepted on every channel route and by every source", async () => {
	for (const source of ["bearer", "cookie", "query"] as const)
		for (const route of ["publish", "history", "stream", "summary", "legacy-publish", "legacy-stream"] as const) {
			const answer = await send(route, source, good);
			expect([route, source, answer.status]).toEqual([route, source, route.endsWith("publish") ? 201 : 200]);
		}
});

test("every fuzzed token is 401 UNAUTHORIZED JSON with WWW-Authenticate: Bearer, never a 5xx", async () => {
	await fc.assert(
		fc.asyncProperty(
			badToken,
			fc.constantFrom<Source>("bearer", "cookie", "query"),
			fc.constantFrom<Route>("publish", "history", "stream", "summary", "legacy-publish", "legacy-stream"),
			async (tokenPromise, source, route) => {
				const token = await tokenPromise;
				const answer = await send(route, source, token);
				expect({ token, source, route, ...answer }).toEqual({
					token,
					source,
					route,
					status: 401,
					type: "UNAUTHORIZED",
					contentType: "application/json; charset=utf-8",
					wwwAuthenticate: expect.stringMatching(/^Bearer realm="chatcast"/),
				});
			},
		),
		{ seed: SEED, numRuns: RUNS },
	);
}, 60_000);
