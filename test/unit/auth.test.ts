/**
 * The identity modules on their own: where a token is found and how it leaves the URL, claims, the
 * verifier (HS256 and a JWKS served from this process), the gate's decisions, development tokens and
 * the AUTH_* configuration.
 */
import { configProblems } from "../support/config-problems";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { identityOf, mayUse } from "../../src/auth/claims";
import { mintToken, parseTokenArgs, parseTtl } from "../../src/auth/dev-token";
import { AuthGate } from "../../src/auth/gate";
import { tokenOf, withoutTokens } from "../../src/auth/token-source";
import { JWKS_COOLDOWN_MS, TokenVerifier } from "../../src/auth/verifier";
import { loadConfig } from "../../src/config";
import { hsToken, nowSeconds, signToken, unsignedToken } from "../support/tokens";

const SECRET = "unit-auth-secret-0123456789abcdef0123";
const CHANNEL = "c3743620-cc30-11e6-9d9d-cec0c932ce01";

/** The 401 reason a promise rejects with. */
async function reasonOf(promise: Promise<unknown>): Promise<unknown> {
	try {
		await promise;
	} catch (err) {
		const e = err as { code?: number; type?: string; data?: { reason?: string; channel?: string } };
		return e.code === 401 ? e.data?.reason : `${e.code} ${e.type}`;
	}
	return "accepted";
}

describe("token sources", () => {
	const req = (headers: http.IncomingHttpHeaders, url = "/"): { headers: http.IncomingHttpHeaders; url: string } => ({
		headers,
		url,
	});

	test("Authorization: Bearer first, then the chatcast_token cookie, then ?access_token=", () => {
		expect(tokenOf(req({ authorization: "Bearer h.h.h", cookie: "chatcast_token=c.c.c" }, "/?access_token=q.q.q"))).toBe("h.h.h");
		expect(tokenOf(req({ authorization: "bearer  h.h.h " }))).toBe("h.h.h");
		expect(tokenOf(req({ cookie: "a=1; chatcast_token=c.c.c; b=2" }, "/?access_token=q.q.q"))).toBe("c.c.c");
		expect(tokenOf(req({}, "/x?lastEventId=3&access_token=q.q.q"))).toBe("q.q.q");
		expect(tokenOf(req({ cookie: "other=1" }, "/x?token=page-only"))).toBeUndefined();
	});

	test("an Authorization header that is not Bearer is kept (so it fails), never ignored", () => {
		expect(tokenOf(req({ authorization: "Basic dXNlcjpwYXNz" }))).toBe("Basic dXNlcjpwYXNz");
	});

	test("withoutTokens drops access_token and token (even percent-encoded), keeps the rest", () => {
		expect(withoutTokens("/a?access_token=x.y.z")).toBe("/a");
		expect(withoutTokens("/a?lastEventId=3&access_token=x&after=1")).toBe("/a?lastEventId=3&after=1");
		expect(withoutTokens("/?c=1&token=x")).toBe("/?c=1");
		expect(withoutTokens("/a?access%5Ftoken=x")).toBe("/a");
		expect(withoutTokens("/a?my_token=1")).toBe("/a?my_token=1");
		expect(withoutTokens("/a")).toBe("/a");
		expect(withoutTokens(undefined)).toBeUndefined();
	});
});

describe("claims", () => {
	const exp = nowSeconds() + 60;

	test("sub → userId, name → author (else sub), exp → expiresAt, channels: list, '*' or absent", () => {
		expect(identityOf({ sub: "u1", name: " Ada ", exp })).toEqual({
			userId: "u1",
			name: "Ada",
			channels: "*",
			expiresAt: exp * 1000,
		});
		expect(identityOf({ sub: "u1", exp }).name).toBe("u1");
		const scoped = identityOf({ sub: "u1", exp, channels: [CHANNEL.toUpperCase()] });
		expect([mayUse(scoped, CHANNEL), mayUse(scoped, "00000000-0000-4000-8000-000000000000")]).toEqual([true, false]);
		expect(mayUse(identityOf({ sub: "u1", exp, channels: "*" }), CHANNEL)).toBe(true);
	});

	test.each([
		["no sub", { exp }],
		["a sub with a control character", { sub: "a\u0007", exp }],
		["a sub over 64 characters", { sub: "x".repeat(65), exp }],
		["a name that is not a string", { sub: "u", name: 7, exp }],
		["an invisible name", { sub: "u", name: "\u200b", exp }],
		["channels that are not UUIDs", { sub: "u", exp, channels: ["general"] }],
		["channels that are a string other than *", { sub: "u", exp, channels: CHANNEL }],
		["no exp", { sub: "u" }],
	])("%s is refused as invalid_claims", (_what, payload) => {
		expect(() => identityOf(payload)).toThrow(expect.objectContaining({ code: 401, data: { reason: "invalid_claims" } }));
	});
});

describe("TokenVerifier with a secret (HS256)", () => {
	const verifier = new TokenVerifier({ secret: SECRET, issuer: "iss-1", audience: "aud-1", mode: "publish" });
	const good = (claims: Record<string, unknown> = {}): Promise<string> =>
		hsToken(SECRET, { sub: "u", iss: "iss-1", aud: "aud-1", ...claims });

	test("a good token gives its identity", async () => {
		await expect(verifier.verify(await good({ name: "Ada" }))).resolves.toMatchObject({ userId: "u", name: "Ada" });
	});

	test("each failure has its reason", async () => {
		const { publicKey, privateKey } = await generateKeyPair("ES256");
		void publicKey;
		const cases: Array<[string, Promise<string> | string]> = [
			["malformed", "garbage"],
			["malformed", "x".repeat(9000)],
			["bad_signature", hsToken("a-different-secret-of-enough-length!!", { sub: "u", iss: "iss-1", aud: "aud-1" })],
			["algorithm_not_allowed", unsignedToken({ sub: "u", iss: "iss-1", aud: "aud-1" })],
			["algorithm_not_allowed", signToken(privateKey, "ES256", { sub: "u", iss: "iss-1", aud: "aud-1" })],
			["expired", good({ exp: nowSeconds() - 1 })],
			["not_yet_valid", good({ nbf: nowSeconds() + 60 })],
			["wrong_issuer", good({ iss: "iss-2" })],
			["wrong_audience", good({ aud: "aud-2" })],
			["missing_claim", hsToken(SECRET, { iss: "iss-1", aud: "aud-1" })],
			["missing_claim", hsToken(SECRET, { sub: "u", iss: "iss-1", aud: "aud-1", exp: undefined })],
		];
		for (const [reason, token] of cases) expect([reason, await reasonOf(verifier.verify(await token))]).toEqual([reason, reason]);
	});
});

describe("TokenVerifier with a JWKS", () => {
	let keys: JWK[] = [];
	let fetches = 0;
	let up = true;
	const server = http.createServer((_req, res) => {
		fetches++;
		if (!up) return void res.writeHead(503).end();
		res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys }));
	});
	let url = "";
	beforeAll(async () => {
		await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
		url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
	});
	afterAll(() => new Promise(resolve => server.close(resolve)));

	async function keyPair(alg: string, kid: string) {
		const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
		const jwk = { ...(await exportJWK(publicKey)), kid, alg };
		return { jwk, sign: (claims: Record<string, unknown>) => signToken(privateKey, alg, { sub: "u", ...claims }, kid) };
	}

	test("RS256, ES256 and EdDSA keys; a new kid is fetched; a removed key stops working; a JWKS outage is 401", async () => {
		const verifier = new TokenVerifier({ jwksUrl: url, mode: "publish" });
		const [rsa, ec, ed] = [await keyPair("RS256", "k-rsa"), await keyPair("ES256", "k-ec"), await keyPair("EdDSA", "k-ed")];
		keys = [rsa.jwk];
		await expect(verifier.verify(await rsa.sign({}))).resolves.toMatchObject({ userId: "u" });
		expect(fetches).toBe(1);
		// Rotation: the set now has the EC key only.
		keys = [ec.jwk];
		await new Promise(r => setTimeout(r, JWKS_COOLDOWN_MS + 100));
		await expect(verifier.verify(await ec.sign({}))).resolves.toMatchObject({ userId: "u" });
		expect(fetches).toBe(2);
		expect(await reasonOf(verifier.verify(await rsa.sign({})))).toBe("unknown_key");
		// A key with another algorithm than its token claims does not verify.
		expect(await reasonOf(verifier.verify(await hsToken(SECRET, { sub: "u" })))).toBe("algorithm_not_allowed");
		keys = [ec.jwk, ed.jwk];
		await new Promise(r => setTimeout(r, JWKS_COOLDOWN_MS + 100));
		await expect(verifier.verify(await ed.sign({}))).resolves.toMatchObject({ userId: "u" });
		// The JWKS goes down: cached keys still verify; an unknown kid is 401 keys_unavailable, not a 5xx.
		up = false;
		await new Promise(r => setTimeout(r, JWKS_COOLDOWN_MS + 100));
		await expect(verifier.verify(await ec.sign({}))).resolves.toMatchObject({ userId: "u" });
		const stranger = await keyPair("ES256", "k-new");
		expect(await reasonOf(verifier.verify(await stranger.sign({})))).toBe("keys_unavailable");
		up = true;
	}, 20_000);

	test("a JWKS URL nobody answers is 401 keys_unavailable", async () => {
		const verifier = new TokenVerifier({ jwksUrl: "http://127.0.0.1:9/jwks.json", mode: "publish" });
		const ec = await keyPair("ES256", "k");
		expect(await reasonOf(verifier.verify(await ec.sign({})))).toBe("keys_unavailable");
	});
});

describe("AuthGate", () => {
	const publishMode = new AuthGate(new TokenVerifier({ secret: SECRET, mode: "publish" }));
	const allMode = new AuthGate(new TokenVerifier({ secret: SECRET, mode: "all" }));
	const off = new AuthGate(undefined);

	test("off: nothing is checked, not even a bad token", async () => {
		expect(off.mode).toBe("off");
		await expect(off.admit("garbage", "publish", CHANNEL)).resolves.toBeUndefined();
	});

	test("publish mode: publishing needs a token, reads do not; a given token is always verified", async () => {
		expect(await reasonOf(publishMode.admit(undefined, "publish", CHANNEL))).toBe("missing");
		await expect(publishMode.admit(undefined, "read", CHANNEL)).resolves.toBeUndefined();
		expect(await reasonOf(publishMode.admit("garbage", "read", CHANNEL))).toBe("malformed");
		await expect(publishMode.admit(await hsToken(SECRET, { sub: "u" }), "publish", CHANNEL)).resolves.toMatchObject({
			userId: "u",
		});
	});

	test("all mode: reads need one too; a channel outside the token is 403 FORBIDDEN", async () => {
		expect(await reasonOf(allMode.admit(undefined, "read", CHANNEL))).toBe("missing");
		const scoped = await hsToken(SECRET, { sub: "u", channels: ["00000000-0000-4000-8000-000000000000"] });
		expect(await reasonOf(allMode.admit(scoped, "read", CHANNEL))).toBe("403 FORBIDDEN");
	});
});

describe("development tokens", () => {
	test("arguments, durations, and a token the verifier accepts with the configured issuer and audience", async () => {
		expect(parseTokenArgs(["--sub", "ada", "--name", "Ada", "--channels", `${CHANNEL},${CHANNEL}`, "--ttl", "10m"])).toEqual({
			sub: "ada",
			name: "Ada",
			channels: [CHANNEL, CHANNEL],
			ttlSeconds: 600,
		});
		expect([parseTtl(undefined), parseTtl("90"), parseTtl("2d")]).toEqual([3600, 90, 172_800]);
		expect(() => parseTokenArgs(["--name", "Ada"])).toThrow(/--sub is required/);
		expect(() => parseTokenArgs(["--sub", "a", "--channels", "general"])).toThrow(/UUIDs/);
		expect(() => parseTokenArgs(["--sub", "a", "--ttl", "0"])).toThrow(/--ttl/);
		expect(() => parseTokenArgs(["--bogus", "1"])).toThrow(/unexpected argument/);
		const token = await mintToken(
			{ sub: "ada", name: "Ada", channels: [CHANNEL], ttlSeconds: 60 },
			{ secret: SECRET, issuer: "i", audience: "a" },
		);
		const identity = await new TokenVerifier({ secret: SECRET, issuer: "i", audience: "a", mode: "publish" }).verify(token);
		expect(identity).toMatchObject({ userId: "ada", name: "Ada" });
		expect(identity.expiresAt - Date.now()).toBeGreaterThan(55_000);
		expect(mayUse(identity, CHANNEL)).toBe(true);
	});
});

describe("AUTH_* configuration", () => {
	const secret = "s".repeat(32);
	const problems = configProblems;

	test("off without a key; a secret or a JWKS URL turns it on (mode publish unless AUTH_MODE says all)", () => {
		expect(loadConfig({}).auth).toBeUndefined();
		expect(loadConfig({ AUTH_JWT_SECRET: secret }).auth).toEqual({
			secret,
			mode: "publish",
			issuer: undefined,
			audience: undefined,
		});
		expect(
			loadConfig({ AUTH_JWKS_URL: "https://login.example.com/jwks.json", AUTH_MODE: "all", AUTH_ISSUER: "i", AUTH_AUDIENCE: "a" })
				.auth,
		).toEqual({
			jwksUrl: "https://login.example.com/jwks.json",
			mode: "all",
			issuer: "i",
			audience: "a",
		});
	});

	test("bad values are ConfigErrors", () => {
		expect(problems({ AUTH_JWT_SECRET: "short" })).toMatch(/AUTH_JWT_SECRET must be at least 32/);
		expect(problems({ AUTH_JWT_SECRET: secret, AUTH_JWKS_URL: "https://x/jwks" })).toMatch(/not both/);
		expect(problems({ AUTH_JWT_SECRET: secret, AUTH_MODE: "everything" })).toMatch(/AUTH_MODE must be publish or all/);
		expect(problems({ AUTH_JWKS_URL: "ftp://x/jwks" })).toMatch(/AUTH_JWKS_URL must be a URL/);
		expect(problems({ AUTH_MODE: "all", AUTH_ISSUER: "i" })).toMatch(
			/AUTH_MODE, AUTH_ISSUER need AUTH_JWT_SECRET or AUTH_JWKS_URL/,
		);
	});
});
