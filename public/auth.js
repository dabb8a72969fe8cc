// Signing in where the server requires a token (GET /api/limits says `auth: "publish"` or `"all"`).
// The token is kept in memory only — never in localStorage, a cookie or the URL: it comes from the
// sign-in field or from `?token=` in the page URL, which is removed from the address bar at once.

/**
 * The current token and what the page shows of it (its name, its expiry). The page never checks a
 * signature: the server does; the claims are read only to greet the user and to notice expiry.
 * @example
 *   const holder = new TokenHolder();
 *   holder.takeFromUrl();             // ?token=… → held, and removed from the address bar
 *   holder.token;                     // "" until signed in
 */
export class TokenHolder {
	constructor() {
		this.token = "";
		this.claims = null;
	}

	/** Takes `?token=` from the page URL (once), leaving the rest of the URL as it was. */
	takeFromUrl(loc = window.location) {
		const url = new URL(loc.href);
		const token = url.searchParams.get("token");
		if (token === null) return;
		url.searchParams.delete("token");
		history.replaceState(history.state, "", url);
		this.set(token);
	}

	/** Holds `token`; false (and nothing held) when it is not a JWT with a `sub`. */
	set(token) {
		const claims = readClaims(token.trim());
		if (!claims) return false;
		this.token = token.trim();
		this.claims = claims;
		return true;
	}

	/** The author the server will use: the token's `name`, else its `sub`. */
	get name() {
		return this.claims ? String(this.claims.name ?? this.claims.sub) : "";
	}

	/** True when there is no token or its `exp` has passed. */
	get expired() {
		return !this.claims || typeof this.claims.exp !== "number" || this.claims.exp * 1000 <= Date.now();
	}
}

function readClaims(token) {
	const parts = token.split(".");
	if (parts.length !== 3) return null;
	try {
		const json = atob(
			parts[1]
				.replace(/-/g, "+")
				.replace(/_/g, "/")
				.padEnd(Math.ceil(parts[1].length / 4) * 4, "="),
		);
		const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, c => c.charCodeAt(0))));
		return claims && typeof claims === "object" && typeof claims.sub === "string" ? claims : null;
	} catch {
		return null;
	}
}

/**
 * The sign-in form: says why a token is needed and takes one.
 * @example
 *   const form = new SignInForm(els, holder, { onSignedIn: () => stream.connectNow() });
 *   form.show("publish");            // or "all", or "expired"
 */
export class SignInForm {
	/**
	 * @param {{ form: HTMLFormElement, input: HTMLInputElement, reason: HTMLElement, error: HTMLElement }} els
	 * @param {TokenHolder} holder
	 * @param {{ onSignedIn: () => void }} handlers
	 */
	constructor(els, holder, { onSignedIn }) {
		this.els = els;
		els.form.addEventListener("submit", ev => {
			ev.preventDefault();
			if (!holder.set(els.input.value) || holder.expired) {
				els.error.textContent = "That is not a valid, unexpired token.";
				els.input.setAttribute("aria-invalid", "true");
				els.input.focus();
				return;
			}
			els.input.value = "";
			els.input.removeAttribute("aria-invalid");
			els.error.textContent = "";
			els.form.hidden = true;
			onSignedIn();
		});
	}

	/** Shows the form, saying why: the server's mode ("publish", "all") or an expired token ("expired"). */
	show(why) {
		const { els } = this;
		els.reason.textContent = {
			publish: "This server requires a token to send messages. Paste the token you were given:",
			all: "This server requires a token to read and send messages. Paste the token you were given:",
			expired: "Your token has expired. Paste a fresh one to continue:",
		}[why];
		els.error.textContent = "";
		els.form.hidden = false;
		els.input.focus();
	}
}
