// The composer's size counter, against the server's limit (GET /api/limits). Until the limit is
// known there is no client-side limit: the server still refuses a too-large text (413), and the
// composer shows its answer.

/** Show the counter from this share of the limit on, when it starts to matter. */
const WARN_SHARE = 7 / 8;
const encoder = new TextEncoder();

/**
 * @example
 *   const count = new ByteCount(textarea, counterEl);
 *   count.setLimit((await getLimits()).maxMessageBytes);
 *   textarea.addEventListener("input", () => count.update());
 */
export class ByteCount {
	/**
	 * @param {HTMLTextAreaElement} input
	 * @param {HTMLElement} el
	 */
	constructor(input, el) {
		this.input = input;
		this.el = el;
		/** @type {number | null} */
		this.limit = null;
	}

	/** The server's limit in UTF-8 bytes; anything but a positive integer leaves the limit unknown. */
	setLimit(maxBytes) {
		this.limit = Number.isSafeInteger(maxBytes) && maxBytes > 0 ? maxBytes : null;
		this.update();
	}

	/** Re-counts the input's text. */
	update() {
		const { limit } = this;
		const bytes = encoder.encode(this.input.value).length;
		this.el.hidden = limit === null || bytes < limit * WARN_SHARE;
		this.el.textContent = limit === null ? "" : `${bytes.toLocaleString()} / ${limit.toLocaleString()} bytes`;
		this.el.classList.toggle("over", limit !== null && bytes > limit);
	}
}
