/**
 * What message texts and author names may contain. Texts keep newlines and tabs but no other C0/C1
 * control character and no lone surrogate (each would be stored and sent as a 6-byte JSON escape, and
 * none is text anyone reads); a text must show at least one visible character. Names are shown inline
 * next to other people's words, so they also refuse every invisible formatting character: bidi
 * controls (which reorder what follows), zero-width characters and line/paragraph separators.
 *
 * @example
 *   textProblem("hello\nworld");  // undefined
 *   textProblem("\u200b");        // "empty"
 *   textProblem("beep\u0007");    // "control"
 *   isSafeName("ada\u202e");      // false
 */
// C0 and C1 controls except tab (U+0009) and newline (U+000A).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const TEXT_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;
/** Everything that renders as nothing: white space, format characters (bidi, zero-width), controls, separators, fillers. */
const INVISIBLE = /^[\p{White_Space}\p{Cf}\p{Cc}\p{Zl}\p{Zp}\p{Mn}\p{Me}\u115f\u1160\u3164\uffa0\u2800]*$/u;
/** What a name may not contain at all. */
const NAME_FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

export type TextProblem = "empty" | "control" | "malformed";

/** Why a message text is refused, or undefined when it is fine. */
export function textProblem(text: string): TextProblem | undefined {
	if (!text.isWellFormed()) return "malformed";
	if (TEXT_CONTROLS.test(text)) return "control";
	if (INVISIBLE.test(text)) return "empty";
	return undefined;
}

/** A display name: visible, and free of controls, format characters and separators. */
export function isSafeName(name: string): boolean {
	return name.isWellFormed() && !NAME_FORBIDDEN.test(name) && !INVISIBLE.test(name);
}
