import { createDraft, parseChannel, parseLastEventId, toLegacyMessage } from "../../src/message";

const CHANNEL = "C3743620-CC30-11E6-9D9D-CEC0C932CE01";
const limits = { maxMessageBytes: 16 };

function errorOf(fn: () => unknown): { code: number; type: string } {
	try {
		fn();
	} catch (err) {
		return err as { code: number; type: string };
	}
	throw new Error("expected an error");
}

describe("message validation", () => {
	test("channel ids are UUIDs, stored lower-case", () => {
		expect(parseChannel(CHANNEL)).toBe(CHANNEL.toLowerCase());
		for (const bad of ["", "not-a-uuid", "c3743620cc3011e69d9dcec0c932ce01x", 42, undefined]) {
			expect(errorOf(() => parseChannel(bad))).toMatchObject({ code: 400, type: "INVALID_CHANNEL" });
		}
	});

	test("a valid draft gets a v7 id, a default author and a time", () => {
		const now = new Date("2026-11-26T10:00:00Z");
		const draft = createDraft({ channel: CHANNEL, text: "hi\nthere" }, limits, now);
		expect(draft).toEqual({
			id: expect.any(String),
			channel: CHANNEL.toLowerCase(),
			author: "anonymous",
			text: "hi\nthere",
			sentAt: now.toISOString(),
		});
		expect(draft.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
	});

	test("empty or whitespace-only text is refused with 400", () => {
		for (const text of ["", "   ", "\n\t", undefined, 5]) {
			expect(errorOf(() => createDraft({ channel: CHANNEL, text }, limits))).toMatchObject({ code: 400, type: "EMPTY_MESSAGE" });
		}
	});

	test("text over the byte limit is refused with 413, counting UTF-8 bytes", () => {
		expect(createDraft({ channel: CHANNEL, text: "x".repeat(16) }, limits).text).toHaveLength(16);
		expect(errorOf(() => createDraft({ channel: CHANNEL, text: "x".repeat(17) }, limits))).toMatchObject({
			code: 413,
			type: "MESSAGE_TOO_LARGE",
		});
		expect(errorOf(() => createDraft({ channel: CHANNEL, text: "é".repeat(9) }, limits))).toMatchObject({ code: 413 });
	});

	test("authors are trimmed and checked", () => {
		expect(createDraft({ channel: CHANNEL, text: "x", author: "  ada " }, limits).author).toBe("ada");
		for (const author of ["   ", "a\nb", "x".repeat(65), 12]) {
			expect(errorOf(() => createDraft({ channel: CHANNEL, text: "x", author }, limits))).toMatchObject({
				code: 400,
				type: "INVALID_AUTHOR",
			});
		}
	});

	test("clientMsgId must be printable ASCII up to 128 characters", () => {
		expect(createDraft({ channel: CHANNEL, text: "x", clientMsgId: "abc-123" }, limits).clientMsgId).toBe("abc-123");
		for (const clientMsgId of ["", "has space", "x".repeat(129), 7, "naïve"]) {
			expect(errorOf(() => createDraft({ channel: CHANNEL, text: "x", clientMsgId }, limits))).toMatchObject({
				code: 400,
				type: "INVALID_CLIENT_MSG_ID",
			});
		}
	});

	test("Last-Event-ID is a non-negative integer or absent", () => {
		expect(parseLastEventId(undefined)).toBeUndefined();
		expect(parseLastEventId("")).toBeUndefined();
		expect(parseLastEventId("0")).toEqual({ seq: 0 });
		expect(parseLastEventId(" 42 ")).toEqual({ seq: 42 });
		// The ids streams send: `<epoch>.<seq>` (an epoch is base64url).
		expect(parseLastEventId("f3Kq-_9xYz01.7")).toEqual({ seq: 7, epoch: "f3Kq-_9xYz01" });
		for (const bad of [
			"-1",
			"abc",
			"1e3",
			".7",
			"f3Kq.",
			"f3Kq-_9xYz01.-1",
			"1.5",
			"f3Kq-_9xYz0.7",
			"f3Kq-_9xYz012.7",
			"a.f3Kq-_9xYz01.7",
			"f3 q-_9xYz01.7",
		]) {
			expect(errorOf(() => parseLastEventId(bad))).toMatchObject({ code: 400, type: "INVALID_LAST_EVENT_ID" });
		}
	});

	test("legacy shape for the original client", () => {
		const message = { id: "i", seq: 1, epoch: "e", channel: "c", author: "bob", text: "t", sentAt: "s" };
		expect(toLegacyMessage(message)).toEqual({ id: "i", userId: "bob", message: "t" });
	});
});
