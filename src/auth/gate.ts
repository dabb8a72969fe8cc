/**
 * Who may do what on a channel once auth is on. A request that carries a token is always verified (a bad
 * one is refused, never taken as anonymous); a publish needs one, and with AUTH_MODE=all so do reads;
 * a token limited to some channels may use only those (403 FORBIDDEN).
 *
 * @example
 *   const gate = new AuthGate(new TokenVerifier(config.auth));
 *   const identity = await gate.admit(tokenOf(req), "publish", channel); // Identity, or throws 401/403
 *   new AuthGate(undefined).admit(token, "read", channel);               // auth off: undefined, always
 */
import { chatError } from "../errors";
import { type Identity, mayUse } from "./claims";
import { type TokenVerifier, unauthorized } from "./verifier";

export type AuthMode = "off" | "publish" | "all";

export class AuthGate {
	constructor(private readonly verifier: TokenVerifier | undefined) {}

	/** What clients are told (`GET /api/limits`): which requests need a token. */
	get mode(): AuthMode {
		return this.verifier?.mode ?? "off";
	}

	/** The caller's identity (undefined: anonymous, allowed); throws 401 UNAUTHORIZED or 403 FORBIDDEN. */
	async admit(token: string | undefined, action: "publish" | "read", channel: string): Promise<Identity | undefined> {
		if (!this.verifier) return undefined;
		const identity = token === undefined ? undefined : await this.verifier.verify(token);
		if (!identity) {
			if (action === "publish" || this.verifier.mode === "all") throw unauthorized("missing");
			return undefined;
		}
		if (!mayUse(identity, channel)) throw chatError("FORBIDDEN", { channel });
		return identity;
	}
}
