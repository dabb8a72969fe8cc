// The message list: keeps messages unique and ordered by seq (each drawn by message-view.js),
// and handles "stick to bottom" scrolling with a jump button.

import { renderMessage, setMine } from "./message-view.js";

const BOTTOM_SLACK_PX = 48;

/** Returns a sanitized copy of a server message, or null if it is unusable. */
export function normalizeMessage(raw) {
	if (!raw || typeof raw !== "object") return null;
	const seq = Number(raw.seq);
	if (!Number.isSafeInteger(seq) || seq < 1) return null;
	const text = typeof raw.text === "string" ? raw.text : "";
	const author = typeof raw.author === "string" && raw.author.trim() ? raw.author : "anonymous";
	const sentAt = typeof raw.sentAt === "string" || typeof raw.sentAt === "number" ? new Date(raw.sentAt) : null;
	return {
		id: typeof raw.id === "string" ? raw.id : String(seq),
		seq,
		text,
		author,
		sentAt: sentAt && !Number.isNaN(sentAt.getTime()) ? sentAt : null,
		clientMsgId: typeof raw.clientMsgId === "string" ? raw.clientMsgId : undefined,
	};
}

/**
 * @example
 *   const timeline = new Timeline({ scroller, list, empty, jump, jumpText, isMine: msg => false });
 *   timeline.addMessages(page.messages, { mode: "history" });
 */
export class Timeline {
	/**
	 * @param {{
	 *   scroller: HTMLElement, list: HTMLElement, empty: HTMLElement,
	 *   jump: HTMLButtonElement, jumpText: HTMLElement,
	 *   isMine: (msg: any) => boolean,
	 * }} opts
	 */
	constructor({ scroller, list, empty, jump, jumpText, isMine }) {
		this.scroller = scroller;
		this.list = list;
		this.empty = empty;
		this.jump = jump;
		this.jumpText = jumpText;
		this.isMine = isMine;
		/** @type {{ key: number, el: HTMLElement, msg?: any }[]} sorted by key */
		this.items = [];
		/** @type {Map<number, { key: number, el: HTMLElement, msg?: any }>} */
		this.bySeq = new Map();
		this.noticeKeys = new Set();
		this.unread = 0;
		this.ready = false;

		this.scroller.addEventListener(
			"scroll",
			() => {
				if (this.isAtBottom()) this.clearUnread();
			},
			{ passive: true },
		);
		this.jump.addEventListener("click", () => {
			this.scrollToBottom();
			this.clearUnread();
			this.scroller.focus({ preventScroll: true });
		});
	}

	get firstSeq() {
		for (const item of this.items) if (item.msg) return item.msg.seq;
		return null;
	}

	get lastSeq() {
		for (let i = this.items.length - 1; i >= 0; i -= 1) if (this.items[i].msg) return this.items[i].msg.seq;
		return null;
	}

	hasClientMsgId(clientMsgId) {
		return this.items.some(item => item.msg && item.msg.clientMsgId === clientMsgId);
	}

	isAtBottom() {
		const s = this.scroller;
		return s.scrollHeight - s.scrollTop - s.clientHeight <= BOTTOM_SLACK_PX;
	}

	scrollToBottom() {
		this.scroller.scrollTop = this.scroller.scrollHeight;
	}

	/** Marks the initial load finished so the empty state can show. */
	setReady() {
		this.ready = true;
		this.updateEmpty();
	}

	/**
	 * Adds messages (any order, duplicates ignored).
	 * @param {any[]} raws
	 * @param {{ mode?: 'live'|'history'|'older'|'own' }} [opts]
	 * @returns {number} how many were new
	 */
	addMessages(raws, { mode = "live" } = {}) {
		const fresh = [];
		for (const raw of raws) {
			const msg = normalizeMessage(raw);
			if (!msg || this.bySeq.has(msg.seq)) continue;
			fresh.push(msg);
			this.bySeq.set(msg.seq, null); // reserve so duplicates within `raws` are skipped
		}
		if (fresh.length === 0) return 0;
		fresh.sort((a, b) => a.seq - b.seq);

		const wasAtBottom = this.isAtBottom();
		const prevHeight = this.scroller.scrollHeight;
		const prevTop = this.scroller.scrollTop;
		const prevLast = this.lastSeq ?? 0;

		let appendedAtEnd = 0;
		for (const msg of fresh) {
			const item = { key: msg.seq, el: renderMessage(msg, this.isMine(msg)), msg };
			this.insert(item);
			this.bySeq.set(msg.seq, item);
			if (msg.seq > prevLast) appendedAtEnd += 1;
		}
		this.updateEmpty();

		if (mode === "older") {
			// Keep the reader's place when earlier messages are added above.
			this.scroller.scrollTop = prevTop + (this.scroller.scrollHeight - prevHeight);
		} else if (mode === "own" || mode === "history" || wasAtBottom) {
			this.scrollToBottom();
		} else if (appendedAtEnd > 0) {
			this.unread += appendedAtEnd;
			this.showJump();
		}
		return fresh.length;
	}

	/** Inserts a notice (e.g. a gap in history) just before the message with `beforeSeq`. */
	addNotice(beforeSeq, text) {
		const key = beforeSeq - 0.5;
		if (this.noticeKeys.has(key)) return;
		this.noticeKeys.add(key);
		const wasAtBottom = this.isAtBottom();
		const el = document.createElement("li");
		el.className = "notice";
		const p = document.createElement("p");
		p.textContent = text;
		el.append(p);
		this.insert({ key, el });
		if (wasAtBottom) this.scrollToBottom();
	}

	/** Removes everything (the server's numbering restarted). */
	clear() {
		this.items = [];
		this.bySeq.clear();
		this.noticeKeys.clear();
		this.list.replaceChildren();
		this.clearUnread();
		this.updateEmpty();
	}

	/** Re-evaluates which messages are "mine" (after a nickname change). */
	refreshOwnership() {
		for (const item of this.items) {
			if (item.msg) setMine(item.el, this.isMine(item.msg));
		}
	}

	insert(item) {
		// Binary search for the first item with a larger key.
		let lo = 0;
		let hi = this.items.length;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			if (this.items[mid].key <= item.key) lo = mid + 1;
			else hi = mid;
		}
		const next = this.items[lo];
		this.items.splice(lo, 0, item);
		if (next) this.list.insertBefore(item.el, next.el);
		else this.list.append(item.el);
	}

	updateEmpty() {
		this.empty.hidden = !this.ready || this.bySeq.size > 0;
	}

	showJump() {
		this.jumpText.textContent = this.unread === 1 ? "1 new message" : `${this.unread} new messages`;
		this.jump.hidden = false;
	}

	clearUnread() {
		this.unread = 0;
		this.jump.hidden = true;
	}
}
