// The channel's past on the timeline: the recent messages on load (retrying while the server is
// unreachable), earlier pages on request, and the server's resets (a gap, or its count restarted).

import { ApiError, getMessages, getRecentMessages } from "./server-api.js";

const HISTORY_COUNT = 50;
const RETRY_MAX_MS = 15000;

const sleep = ms =>
	new Promise(resolve => {
		setTimeout(resolve, ms);
	});

/** A 4xx other than timeout / too many requests will not get better by retrying. */
const isFinal = err =>
	err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;

/**
 * @example
 *   const channelHistory = new ChannelHistory(els, channel, timeline);
 *   const { seq, epoch } = await channelHistory.loadRecent(); // the newest seq shown, of its count
 *   stream.start(seq, epoch);
 */
export class ChannelHistory {
	/**
	 * @param {{ older: HTMLElement, olderBtn: HTMLButtonElement, loading: HTMLElement, messages: HTMLElement }} els
	 * @param {string} channel
	 * @param {import("./timeline.js").Timeline} timeline
	 */
	constructor(els, channel, timeline) {
		this.els = els;
		this.channel = channel;
		this.timeline = timeline;
		/** The oldest seq the server still keeps, once known. @type {number | null} */
		this.oldestRetained = null;
		els.olderBtn.addEventListener("click", () => this.loadOlder());
	}

	/**
	 * Shows the most recent messages; resolves with where to follow the stream from: `{ seq, epoch }`.
	 * Rejects (an ApiError) only when the server refuses the channel.
	 */
	async loadRecent() {
		const { els } = this;
		for (let attempt = 0; ; attempt += 1) {
			try {
				const page = await getRecentMessages(this.channel, HISTORY_COUNT);
				const messages = Array.isArray(page.messages) ? page.messages : [];
				this.oldestRetained = Number(page.oldestSeq) || null;
				els.messages.setAttribute("aria-busy", "true");
				this.timeline.addMessages(messages, { mode: "history" });
				els.messages.setAttribute("aria-busy", "false");
				els.loading.hidden = true;
				this.timeline.setReady();
				this.updateOlder();
				const maxSeq = messages.reduce((m, x) => Math.max(m, Number(x.seq) || 0), 0);
				return {
					seq: messages.length ? maxSeq : Number(page.lastSeq) || 0,
					epoch: typeof page.epoch === "string" ? page.epoch : "",
				};
			} catch (err) {
				if (isFinal(err)) throw err;
				const wait = Math.min(RETRY_MAX_MS, 1000 * 2 ** attempt);
				els.loading.textContent = `Couldn't load messages (${err instanceof Error ? err.message : "error"}). Retrying in ${Math.round(wait / 1000)} s…`;
				await sleep(wait);
			}
		}
	}

	/** The stream's `reset`: messages before `oldestSeq` that we missed are gone. */
	onReset({ oldestSeq, lastSeq, after }) {
		this.oldestRetained = oldestSeq;
		if (lastSeq < after) {
			// The server's count restarted: our seqs no longer match its seqs, start over.
			this.timeline.clear();
			this.timeline.addNotice(oldestSeq, "The channel history was reset on the server. Showing what it has now.");
		} else {
			this.timeline.addNotice(oldestSeq, "Some messages were missed while you were away and are no longer available.");
		}
		this.updateOlder();
	}

	async loadOlder() {
		const { els, timeline } = this;
		const first = timeline.firstSeq;
		if (first === null || this.oldestRetained === null) return;
		const after = Math.max(this.oldestRetained - 1, first - 1 - HISTORY_COUNT, 0);
		els.olderBtn.disabled = true;
		els.olderBtn.textContent = "Loading…";
		try {
			const page = await getMessages(this.channel, { after, limit: Math.max(1, first - 1 - after) });
			this.oldestRetained = Number(page.oldestSeq) || this.oldestRetained;
			timeline.addMessages(
				(page.messages || []).filter(m => Number(m.seq) < first),
				{ mode: "older" },
			);
			els.olderBtn.textContent = "Show earlier messages";
		} catch {
			els.olderBtn.textContent = "Could not load — try again";
		} finally {
			els.olderBtn.disabled = false;
		}
		this.updateOlder();
	}

	/** "Show earlier messages" only while the server keeps some before the first one shown. */
	updateOlder() {
		const first = this.timeline.firstSeq;
		this.els.older.hidden = !(first !== null && this.oldestRetained !== null && this.oldestRetained < first);
	}
}
