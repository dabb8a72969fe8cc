import { isSafeName, textProblem } from "../../src/text-rules";

describe("message texts", () => {
	test("ordinary text, newlines, tabs, emoji and combining marks are fine", () => {
		for (const text of ["hello", "line 1\nline 2\tend", "👨‍👩‍👧 family", "e\u0301", "  padded  ", "中文"]) {
			expect(textProblem(text)).toBeUndefined();
		}
	});

	test("a text that shows nothing is empty", () => {
		for (const text of ["", " \n\t", "\u200b", "\u200b\u200c\u200d\ufeff", "\u2028\u2029", "\u3164", "\u2800", "\u202e"]) {
			expect(textProblem(text)).toBe("empty");
		}
	});

	test("control characters other than newline and tab, and lone surrogates, are refused", () => {
		for (const text of ["bell\u0007", "cr\r", "esc\u001b[31m", "del\u007f", "c1\u0085", "nul\u0000"]) {
			expect(textProblem(text)).toBe("control");
		}
		expect(textProblem("half \ud800 pair")).toBe("malformed");
	});
});

describe("author names", () => {
	test("visible names pass", () => {
		for (const name of ["ada", "Ada Lovelace", "José", "李", "ada_99"]) expect(isSafeName(name)).toBe(true);
	});

	test("bidi controls, zero-width characters, separators, controls and invisible names are refused", () => {
		for (const name of ["ada\u202e", "\u2066ada", "a\u200bda", "ada\u2028", "ada\u0007", "\u200b", "\u3164", "a\u00adb"]) {
			expect(isSafeName(name)).toBe(false);
		}
	});
});
