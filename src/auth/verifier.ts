/**
 * Verifies a JWT with `jose` (no crypto of our own): HS256 with a shared secret, or RS256/ES256/EdDSA with
 * keys from a JWKS URL (fetched once, cached, fetched again for an unknown `kid` at most every
 * JWKS_COOLDOWN_MS). `exp` and `sub` are required; `iss` and `aud` are checked when configured. Every
 * failure is 401 UNAUTHORIZED with a `reason`; none is a 5xx.
 *
 * @example
 *   const verifier = new TokenVerifier({ secret: "…32+ characters…", mode: "publish" });
 *   const identity = await verifier.verify(token);   // or throws UNAUTHORIZED { reason: "expired" }
 */
import { createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from "jose";
import { chatError } from "../errors";
import { type Identity, identityOf } from "./claims";

export interface AuthOptions {
	/** HS256 secret (at least 32 characters); exclusive with jwksUrl. */
	secret?: string;
	/** URL of a JSON Web Key Set (RS256, ES256, EdDSA keys). */
	jwksUrl?: string;
	issuer?: string;
	audience?: string;
	/** `publish`: publishing needs a token; `all`: streams and history reads too. */
	mode: "publish" | "all";
}

/** Why a token was refused: `data.reason` of 401 UNAUTHORIZED. */
export type AuthFailure =
	| "missing"
	| "malformed"
	| "bad_signature"
	| "algorithm_not_allowed"
	| "unknown_key"
	| "expired"
	| "not_yet_valid"
	| "wrong_issuer"
	| "wrong_audience"
	| "missing_claim"
	| "invalid_claims"
	| "keys_unavailable"
	| "invalid";

/** Longest time a JWKS fetch may take; the request waiting on it then gets 401 `keys_unavailable`. */
export const JWKS_TIMEOUT_MS = 3000;
/** Least time between two fetches of the JWKS for unknown `kid`s (so random kids cannot make us fetch per request). */
export const JWKS_COOLDOWN_MS = 2000;
/** How long fetched keys are used before they are fetched again anyway. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
/** A token longer than this is refused unread (it would travel in every request). */
export const MAX_TOKEN_LENGTH = 8192;

const HS_ALGORITHMS = ["HS256"];
const JWKS_ALGORITHMS = ["RS256", "ES256", "EdDSA"];

export class TokenVerifier {
	private readonly key: Uint8Array | JWTVerifyGetKey;
	private readonly algorithms: string[];

	constructor(private readonly options: AuthOptions) {
		if (options.secret !== undefined) {
			this.key = new TextEncoder().encode(options.secret);
			this.algorithms = HS_ALGORITHMS;
		} else if (options.jwksUrl !== undefined) {
			this.key = createRemoteJWKSet(new URL(options.jwksUrl), {
				timeoutDuration: JWKS_TIMEOUT_MS,
				cooldownDuration: JWKS_COOLDOWN_MS,
				cacheMaxAge: JWKS_MAX_AGE_MS,
			});
			this.algorithms = JWKS_ALGORITHMS;
		} else throw new Error("TokenVerifier needs a secret or a JWKS URL");
	}

	get mode(): AuthOptions["mode"] {
		return this.options.mode;
	}

	/** The token's identity; throws 401 UNAUTHORIZED with the reason. */
	async verify(token: string): Promise<Identity> {
		if (token.length > MAX_TOKEN_LENGTH) throw unauthorized("malformed");
		let payload: Record<string, unknown>;
		try {
			const options = {
				algorithms: this.algorithms,
				issuer: this.options.issuer,
				audience: this.options.audience,
				requiredClaims: ["sub", "exp"],
			};
			// Two calls, not one with a union key: jose's overloads take either.
			const result =
				this.key instanceof Uint8Array ? await jwtVerify(token, this.key, options) : await jwtVerify(token, this.key, options);
			payload = result.payload;
		} catch (err) {
			throw unauthorized(failureOf(err, this.options.jwksUrl !== undefined));
		}
		return identityOf(payload);
	}
}

/**
 * 401 UNAUTHORIZED for a reason.
 *
 * @example
 *   throw unauthorized("missing");
 */
export function unauthorized(reason: AuthFailure): Error {
	return chatError("UNAUTHORIZED", { reason }, REASON_TEXT[reason]);
}

const REASON_TEXT: Record<AuthFailure, string> = {
	missing: "A token is required (Authorization: Bearer, the chatcast_token cookie or ?access_token=).",
	malformed: "The token is not a well-formed JWT.",
	bad_signature: "The token's signature does not verify.",
	algorithm_not_allowed: "The token's algorithm is not accepted.",
	unknown_key: "The token is signed with a key this server does not know.",
	expired: "The token has expired.",
	not_yet_valid: "The token is not valid yet (nbf or iat in the future).",
	wrong_issuer: "The token is from another issuer.",
	wrong_audience: "The token is for another audience.",
	missing_claim: "The token lacks a required claim (sub, exp).",
	invalid_claims: "The token's claims are not usable.",
	keys_unavailable: "The keys to verify the token cannot be fetched right now; try again shortly.",
	invalid: "The token is not valid.",
};

/** jose's error, as our reason (by class, so a new jose message changes nothing). */
function failureOf(err: unknown, remote: boolean): AuthFailure {
	if (err instanceof errors.JWTExpired) return "expired";
	if (err instanceof errors.JWTClaimValidationFailed) {
		if (err.reason === "missing") return "missing_claim";
		if (err.claim === "nbf" || err.claim === "iat") return "not_yet_valid";
		if (err.claim === "iss") return "wrong_issuer";
		if (err.claim === "aud") return "wrong_audience";
		return "invalid_claims";
	}
	if (err instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
	if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return "algorithm_not_allowed";
	if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return "unknown_key";
	if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return "keys_unavailable";
	// jose's plain JOSEError is what a failed JWKS fetch throws (not 200, not JSON); the other classes are the token's.
	if (err instanceof errors.JOSEError) return err.constructor === errors.JOSEError ? "keys_unavailable" : "malformed";
	// Not jose's: the JWKS fetch itself failed (refused connection, reset …); with a secret, nothing is fetched.
	return remote ? "keys_unavailable" : "malformed";
}
