/**
 * What a verified token says about its holder: who (`sub` → userId, `name` → author, else `sub`), which
 * channels (`channels`: UUIDs, or "*", absent = all) and until when (`exp`). Claims that do not fit are
 * refused like a bad token, so nothing unchecked reaches a message.
 *
 * @example
 *   const identity = identityOf({ sub: "u1", name: "Ada", exp: 1767225600, channels: ["c3743620-…"] });
 *   mayUse(identity, "c3743620-…"); // true
 */
import { validate as isUuid } from "uuid";
import type { StreamUser } from "../contract";
import { chatError } from "../errors";
import { isValidAuthor } from "../message";

/** The most channels one token may list (a token travels in every request). */
export const MAX_TOKEN_CHANNELS = 1000;

export interface Identity extends StreamUser {
	/** "*" or the lower-case channel ids the token allows. */
	channels: "*" | ReadonlySet<string>;
	/** When the token expires (ms since the epoch, from `exp`). */
	expiresAt: number;
}

/** The claims of a verified JWT payload as an identity; throws 401 UNAUTHORIZED (`invalid_claims`) when they do not fit. */
export function identityOf(payload: Record<string, unknown>): Identity {
	const { sub, name, exp, channels } = payload;
	if (typeof sub !== "string" || !isValidAuthor(sub)) throw invalidClaims("sub must be 1-64 visible characters.");
	if (name !== undefined && (typeof name !== "string" || !isValidAuthor(name.trim())))
		throw invalidClaims("name must be 1-64 visible characters.");
	if (typeof exp !== "number" || !Number.isFinite(exp)) throw invalidClaims("exp is required.");
	return {
		userId: sub,
		name: typeof name === "string" ? name.trim() : sub,
		channels: channelsOf(channels),
		expiresAt: exp * 1000,
	};
}

/** Whether the identity may use the (lower-case) channel. */
export function mayUse(identity: Identity, channel: string): boolean {
	return identity.channels === "*" || identity.channels.has(channel);
}

function channelsOf(claim: unknown): Identity["channels"] {
	if (claim === undefined || claim === "*") return "*";
	if (!Array.isArray(claim) || claim.length > MAX_TOKEN_CHANNELS || !claim.every(c => typeof c === "string" && isUuid(c)))
		throw invalidClaims(`channels must be "*" or an array of at most ${MAX_TOKEN_CHANNELS} channel UUIDs.`);
	return new Set(claim.map(c => String(c).toLowerCase()));
}

function invalidClaims(message: string): Error {
	return chatError("UNAUTHORIZED", { reason: "invalid_claims" }, `The token's claims are not usable: ${message}`);
}
