/**
 * AUTH_JWKS_URL on a real node process: keys served by a local JWKS endpoint (node:http, port 0) are
 * fetched, a new `kid` makes the node fetch again (rotation without restart), a removed key stops
 * working, and an endpoint that is down costs tokens with unknown keys a 401, never a 5xx.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { JWKS_COOLDOWN_MS } from "../../src/auth/verifier";
import { type ChatcastNode, startNode, uniqueNamespace, waitFor } from "../support/node-process";
import { request } from "../support/raw-http";
import { signToken } from "../support/tokens";

let keys: JWK[] = [];
let fetches = 0;
let up = true;
const jwks = http.createServer((_req, res) => {
	fetches++;
	if (!up) return void res.writeHead(503).end();
	res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys }));
});
let edge: ChatcastNode;

beforeAll(async () => {
	await new Promise<void>(resolve => jwks.listen(0, "127.0.0.1", resolve));
	const { port } = jwks.address() as AddressInfo;
	edge = await startNode({
		namespace: uniqueNamespace("auth-jwks"),
		env: { AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`, AUTH_AUDIENCE: "chatcast" },
	});
	await waitFor(async () => (await request(`${edge.baseUrl}/api/ready`)).status === 200, 15_000, "node ready");
}, 30_000);
afterAll(async () => {
	await edge.stop();
	await new Promise(resolve => jwks.close(resolve));
});

async function key(alg: string, kid: string) {
	const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
	return {
		jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" },
		token: (sub: string) => signToken(privateKey, alg, { sub, aud: "chatcast" }, kid),
	};
}

const publish = (token: string, channel = randomUUID()) =>
	request(`${edge.baseUrl}/api/channels/${channel}/messages`, {
		method: "POST",
		headers: { Authorization: `Bearer ${token}` },
		body: "hi",
	});
const cooldown = (): Promise<void> => new Promise(r => setTimeout(r, JWKS_COOLDOWN_MS + 200));

test("rotation: old key, then a new kid (fetched again), then the old key removed; an outage is 401", async () => {
	const [first, second] = [await key("RS256", `rsa-${randomUUID()}`), await key("EdDSA", `ed-${randomUUID()}`)];
	keys = [first.jwk];
	const answer = await publish(await first.token("ada"));
	expect({ status: answer.status, userId: answer.json.userId }).toEqual({ status: 201, userId: "ada" });
	const fetchesBefore = fetches;

	// The issuer publishes a new key next to the old one and starts signing with it.
	keys = [first.jwk, second.jwk];
	await cooldown();
	expect((await publish(await second.token("bob"))).status).toBe(201);
	expect(fetches).toBe(fetchesBefore + 1);
	expect((await publish(await first.token("ada"))).status).toBe(201); // both keys are known now

	// The old key is withdrawn: once the node has fetched the set again, its tokens fail.
	keys = [second.jwk];
	const third = await key("ES256", `ec-${randomUUID()}`);
	keys = [second.jwk, third.jwk];
	await cooldown();
	expect((await publish(await third.token("cy"))).status).toBe(201); // unknown kid: fetched again
	const old = await publish(await first.token("ada"));
	expect({ status: old.status, reason: old.json.data?.reason }).toEqual({ status: 401, reason: "unknown_key" });

	// The endpoint goes down: keys already fetched keep working, an unknown kid is 401 keys_unavailable.
	up = false;
	await cooldown();
	expect((await publish(await second.token("bob"))).status).toBe(201);
	const stranger = await key("ES256", `ec-${randomUUID()}`);
	const down = await publish(await stranger.token("eve"));
	expect({ status: down.status, reason: down.json.data?.reason, auth: down.headers["www-authenticate"] }).toEqual({
		status: 401,
		reason: "keys_unavailable",
		auth: 'Bearer realm="chatcast", error="invalid_token"',
	});
	up = true;
}, 30_000);
