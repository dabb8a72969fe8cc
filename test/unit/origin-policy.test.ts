import { corsHeaders, originVerdict, parseOrigins } from "../../src/origin-policy";

describe("origin policy", () => {
	test("same origin and no origin pass; listed origins are allowed; every other page is refused", () => {
		expect(originVerdict(undefined, "chat.example.com", [])).toBe("no-origin");
		expect(originVerdict("http://127.0.0.1:3000", "127.0.0.1:3000", [])).toBe("same-origin");
		expect(originVerdict("https://chat.example.com", "Chat.Example.com", [])).toBe("same-origin");
		expect(originVerdict("https://evil.example", "chat.example.com", [])).toBe("refused");
		expect(originVerdict("http://127.0.0.1:3001", "127.0.0.1:3000", [])).toBe("refused");
		expect(originVerdict("null", "chat.example.com", [])).toBe("refused");
		expect(originVerdict("https://app.example.com", "chat.example.com", ["https://app.example.com"])).toBe("allowed");
	});

	test("CORS_ORIGINS takes exact origins only", () => {
		expect(parseOrigins("https://a.example, http://b.example:8080 ,")).toEqual({
			origins: ["https://a.example", "http://b.example:8080"],
			invalid: [],
		});
		expect(parseOrigins("https://a.example/, *, ftp://x, a.example").invalid).toEqual([
			"https://a.example/",
			"*",
			"ftp://x",
			"a.example",
		]);
		expect(parseOrigins(undefined)).toEqual({ origins: [], invalid: [] });
	});

	test("CORS headers name the one origin and vary on it", () => {
		expect(corsHeaders("https://a.example")).toMatchObject({
			"Access-Control-Allow-Origin": "https://a.example",
			Vary: "Origin",
		});
	});
});
