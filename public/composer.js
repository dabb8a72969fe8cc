// The message composer: sends the draft, keeps it (with the server's message) when a send fails,
// and makes a retry idempotent: the same text keeps the same clientMsgId, so the server stores it once.

import { ByteCount } from "./byte-count.js";

/**
 * @example
 *   const composer = new Composer(els, {
 *     post: draft => postMessage(channel, draft), sentIds, author: () => nick.value,
 *     askAuthor: () => nick.ask(false), onSent: msg => timeline.addMessages([msg]), isShown: id => timeline.hasClientMsgId(id),
 *   });
 */
export class Composer {
	/**
	 * @param {{ form: HTMLFormElement, input: HTMLTextAreaElement, sendBtn: HTMLButtonElement, error: HTMLElement, byteCount: HTMLElement }} els
	 * @param {{
	 *   post: (draft: { text: string, author: string, clientMsgId: string }) => Promise<unknown>,
	 *   sentIds: { add: (id: string) => void },
	 *   author: () => string,
	 *   askAuthor: () => void,
	 *   onSent: (msg: unknown) => void,
	 *   isShown: (clientMsgId: string) => boolean,
	 * }} deps
	 */
	constructor(els, deps) {
		this.els = els;
		this.deps = deps;
		this.byteCount = new ByteCount(els.input, els.byteCount);
		this.sending = false;
		/** The last attempt that did not succeed (or is in flight). @type {{ text: string, clientMsgId: string } | null} */
		this.pending = null;

		els.form.addEventListener("submit", ev => {
			ev.preventDefault();
			this.send();
		});
		els.input.addEventListener("keydown", ev => {
			// Enter sends, Shift/Alt+Enter is a new line; never while an IME is composing.
			if (ev.key === "Enter" && !ev.shiftKey && !ev.altKey && !ev.isComposing && ev.keyCode !== 229) {
				ev.preventDefault();
				this.send();
			}
		});
		els.input.addEventListener("input", () => {
			this.byteCount.update();
			if (els.error.textContent && !this.sending) els.error.textContent = "";
		});
	}

	/** The server's text limit in bytes (see ByteCount). */
	setMaxBytes(maxBytes) {
		this.byteCount.setLimit(maxBytes);
	}

	focus() {
		this.els.input.focus();
	}

	/**
	 * A message from the stream. If it is a send that looked failed (e.g. its answer was lost) but
	 * reached the server, the draft is done.
	 */
	reconcile(msg) {
		const { pending } = this;
		if (this.sending || !pending || msg?.clientMsgId !== pending.clientMsgId) return;
		if (this.draft() === pending.text) this.clear();
		this.pending = null;
	}

	async send() {
		if (this.sending) return;
		const { els, deps } = this;
		const text = this.draft();
		if (!text) {
			els.error.textContent = "Write something first.";
			els.input.focus();
			return;
		}
		const author = deps.author();
		if (!author) {
			deps.askAuthor();
			return;
		}
		if (!this.pending || this.pending.text !== text) this.pending = { text, clientMsgId: crypto.randomUUID() };
		const attempt = this.pending;
		deps.sentIds.add(attempt.clientMsgId); // before the request: the stream echo may arrive first
		els.error.textContent = "";
		this.setSending(true);
		try {
			const msg = await deps.post({ text: attempt.text, author, clientMsgId: attempt.clientMsgId });
			deps.onSent(msg);
			this.done(attempt);
		} catch (err) {
			// Shown from the stream meanwhile: it was stored after all.
			if (deps.isShown(attempt.clientMsgId)) this.done(attempt);
			else els.error.textContent = err instanceof Error && err.message ? `Not sent: ${err.message}` : "Not sent: try again.";
		} finally {
			this.setSending(false);
			els.input.focus();
		}
	}

	/** `attempt` is stored: forget it, and clear the draft unless the user already wrote something else. */
	done(attempt) {
		if (this.pending === attempt) this.pending = null;
		if (this.draft() === attempt.text) this.clear();
	}

	clear() {
		this.els.input.value = "";
		this.els.error.textContent = "";
		this.byteCount.update();
	}

	/** The text to send: leading blank lines and trailing white space dropped, inner formatting kept. */
	draft() {
		return this.els.input.value.replace(/^(?:[ \t]*\r?\n)+/, "").trimEnd();
	}

	setSending(on) {
		const { els } = this;
		this.sending = on;
		els.input.disabled = on;
		els.sendBtn.disabled = on;
		els.sendBtn.textContent = on ? "Sending…" : "Send";
		els.form.setAttribute("aria-busy", String(on));
	}
}
