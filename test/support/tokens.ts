/**
 * Tokens for tests, signed with jose like an application's login would: HS256 with a secret, or any key
 * pair (for a JWKS), with claims and header fields overridden at will.
 *
 * @example
 *   const token = await hsToken(SECRET, { sub: "ada", name: "Ada" });           // exp in an hour
 *   const old = await hsToken(SECRET, { sub: "ada", exp: nowSeconds() - 10 });   // expired
 */
import { type KeyLike, SignJWT } from "jose";

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export type Claims = Record<string, unknown>;

/** Signs `claims` (default exp: in an hour) with `key` under `alg` (and `kid`, when given). */
export async function signToken(key: KeyLike | Uint8Array, alg: string, claims: Claims, kid?: string): Promise<string> {
	const payload: Claims = { exp: nowSeconds() + 3600, ...claims };
	return new SignJWT(payload).setProtectedHeader(kid ? { alg, kid } : { alg }).sign(key);
}

export function hsToken(secret: string, claims: Claims): Promise<string> {
	return signToken(new TextEncoder().encode(secret), "HS256", claims);
}

/** An unsigned token (`alg: none`), which no verifier may accept. */
export function unsignedToken(claims: Claims): string {
	const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
	return `${part({ alg: "none", typ: "JWT" })}.${part({ exp: nowSeconds() + 3600, ...claims })}.`;
}
