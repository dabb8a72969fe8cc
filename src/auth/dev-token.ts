/**
 * Development tokens (`npm run token`): an HS256 JWT for the configured AUTH_JWT_SECRET, with the claims
 * Chatcast reads. Production tokens come from the application's own login, signed the same way.
 *
 * @example
 *   const request = parseTokenArgs(["--sub", "ada", "--name", "Ada", "--ttl", "1h"]);
 *   await mintToken(request, { secret, issuer, audience }); // "eyJhbGciOiJIUzI1NiJ9…"
 */
import { SignJWT } from "jose";
import { validate as isUuid } from "uuid";

export interface TokenRequest {
	sub: string;
	name?: string;
	/** Channel UUIDs; undefined = all. */
	channels?: string[];
	ttlSeconds: number;
}

const DEFAULT_TTL_SECONDS = 3600;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

export const TOKEN_USAGE = "usage: npm run token -- --sub <user id> [--name <name>] [--channels <uuid>[,<uuid>…]] [--ttl 1h]";

/** The command line's token request; throws an Error with the usage on a bad one. */
export function parseTokenArgs(args: readonly string[]): TokenRequest {
	const values: Record<string, string> = {};
	for (let i = 0; i < args.length; i += 2) {
		const flag = args[i];
		const value = args[i + 1];
		if (!["--sub", "--name", "--channels", "--ttl"].includes(flag) || value === undefined)
			throw new Error(`unexpected argument ${JSON.stringify(flag)}\n${TOKEN_USAGE}`);
		values[flag.slice(2)] = value;
	}
	if (!values.sub) throw new Error(`--sub is required\n${TOKEN_USAGE}`);
	const channels = values.channels?.split(",").map(c => c.trim());
	if (channels?.some(c => !isUuid(c))) throw new Error(`--channels must be channel UUIDs, comma-separated\n${TOKEN_USAGE}`);
	return { sub: values.sub, name: values.name, channels, ttlSeconds: parseTtl(values.ttl) };
}

/** "90", "30s", "10m", "1h", "2d" as seconds. */
export function parseTtl(ttl: string | undefined): number {
	if (ttl === undefined) return DEFAULT_TTL_SECONDS;
	const match = /^(\d{1,9})([smhd]?)$/.exec(ttl.trim());
	if (!match || Number(match[1]) === 0) throw new Error(`--ttl must be a duration such as 90s, 10m, 1h or 2d\n${TOKEN_USAGE}`);
	return Number(match[1]) * UNIT_SECONDS[match[2] || "s"];
}

/** Signs the request's claims (sub, name, channels, iat, exp; iss and aud when configured) with HS256. */
export async function mintToken(
	request: TokenRequest,
	key: { secret: string; issuer?: string; audience?: string },
	now = Date.now(),
): Promise<string> {
	const claims: Record<string, unknown> = {};
	if (request.name !== undefined) claims.name = request.name;
	if (request.channels !== undefined) claims.channels = request.channels;
	const iat = Math.floor(now / 1000);
	const jwt = new SignJWT(claims)
		.setProtectedHeader({ alg: "HS256", typ: "JWT" })
		.setSubject(request.sub)
		.setIssuedAt(iat)
		.setExpirationTime(iat + request.ttlSeconds);
	if (key.issuer) jwt.setIssuer(key.issuer);
	if (key.audience) jwt.setAudience(key.audience);
	return jwt.sign(new TextEncoder().encode(key.secret));
}
