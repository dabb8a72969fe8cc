/**
 * Which web pages may talk to Chatcast from a browser. A browser names the page's origin in `Origin` on
 * every cross-origin request and on same-origin POSTs; a request without it does not come from a
 * page's script (curl, a server, EventSource on the same origin). Same origin is always allowed;
 * other origins only when listed in `CORS_ORIGINS`. A refused origin is answered 403 before any action
 * runs — a `text/plain` POST is a CORS "simple" request, so the browser sends it without asking first,
 * and only the server can stop it.
 *
 * @example
 *   originVerdict("https://chat.example.com", "chat.example.com", []);          // "same-origin"
 *   originVerdict("https://evil.example", "chat.example.com", []);              // "refused"
 *   originVerdict("https://app.example.com", "chat.example.com", ["https://app.example.com"]); // "allowed"
 */
export type OriginVerdict = "no-origin" | "same-origin" | "allowed" | "refused";

export function originVerdict(origin: string | undefined, host: string | undefined, allowed: readonly string[]): OriginVerdict {
	if (origin === undefined) return "no-origin";
	if (allowed.includes(origin)) return "allowed";
	let originHost: string;
	try {
		originHost = new URL(origin).host;
	} catch {
		return "refused";
	}
	// The scheme is not compared: behind a TLS-terminating proxy the page is https and this server http.
	return host !== undefined && originHost === host.toLowerCase() ? "same-origin" : "refused";
}

/** The headers that let an allowed page read Chatcast's answers and send what the API takes. */
export function corsHeaders(origin: string): Record<string, string> {
	return {
		"Access-Control-Allow-Origin": origin,
		"Access-Control-Allow-Methods": "GET, POST",
		"Access-Control-Allow-Headers": "Content-Type, Last-Event-ID, Idempotency-Key, X-Request-ID",
		"Access-Control-Expose-Headers": "Location, X-Request-ID, Retry-After",
		"Access-Control-Max-Age": "600",
		Vary: "Origin",
	};
}

/** Parses `CORS_ORIGINS`: comma-separated origins such as `https://app.example.com`; returns the bad entries too. */
export function parseOrigins(raw: string | undefined): { origins: string[]; invalid: string[] } {
	const origins: string[] = [];
	const invalid: string[] = [];
	for (const entry of (raw ?? "")
		.split(",")
		.map(s => s.trim())
		.filter(Boolean)) {
		let parsed: URL | undefined;
		try {
			parsed = new URL(entry);
		} catch {
			parsed = undefined;
		}
		if (parsed && (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.origin === entry) origins.push(entry);
		else invalid.push(entry);
	}
	return { origins, invalid };
}
