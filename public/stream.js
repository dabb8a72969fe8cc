// Live channel stream over EventSource with resume and self-healing reconnects.
//
// States reported through onState:
//   'connecting'   – first connection attempt, never been live yet
//   'live'         – the stream is open
//   'reconnecting' – the stream dropped; the browser (or we) are re-establishing it
//   'offline'      – the browser reports no network; we retry as soon as it is back
//
// While the EventSource is CONNECTING the browser retries by itself and sends
// Last-Event-ID. Once it is CLOSED (e.g. the server answered non-200) it never
// retries, so we open a new one with ?lastEventId=<epoch>.<last seq seen> after a backoff (the epoch tells
// the server which count the seq is of: after its count restarted, it answers with a reset).

import { eventsUrl } from "./server-api.js";

const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 15000;

/**
 * One channel's live messages, resumed after the last seq seen across every reconnect.
 * @example
 *   const stream = new ChannelStream(channel, { onMessage: msg => timeline.addMessages([msg]), onState: showState });
 *   stream.start(lastSeqShown, epochOfHistory);
 */
export class ChannelStream {
	/**
	 * @param {string} channel
	 * @param {{
	 *   onMessage?: (msg: any) => void,
	 *   onReset?: (info: { oldestSeq: number, lastSeq: number, after: number }) => void,
	 *   onPresence?: (info: { subscribers: number }) => void,
	 *   onState?: (state: string) => void,
	 *   onExpired?: () => void,
	 * }} handlers
	 */
	constructor(channel, handlers = {}) {
		this.channel = channel;
		this.handlers = handlers;
		this.source = null;
		this.lastSeq = 0;
		/** The count `lastSeq` is of ("" until known). */
		this.epoch = "";
		this.everOpen = false;
		this.attempt = 0;
		this.timer = null;
		this.stopped = true;
		this.state = null;

		this.onOnline = () => {
			if (this.stopped) return;
			// Don't wait for the backoff (or the browser's retry delay) once the network is back.
			if (!this.source || this.source.readyState !== EventSource.OPEN) this.connectNow();
		};
		this.onOffline = () => {
			if (!this.stopped && (!this.source || this.source.readyState !== EventSource.OPEN)) this.setState("offline");
		};
	}

	/** Starts streaming, resuming after `lastSeq` (the newest seq already shown) of `epoch`. */
	start(lastSeq = 0, epoch = this.epoch) {
		if (epoch !== this.epoch) this.lastSeq = 0;
		this.epoch = epoch;
		this.lastSeq = Math.max(this.lastSeq, Number(lastSeq) || 0);
		this.stopped = false;
		window.addEventListener("online", this.onOnline);
		window.addEventListener("offline", this.onOffline);
		this.open();
	}

	stop() {
		this.stopped = true;
		window.removeEventListener("online", this.onOnline);
		window.removeEventListener("offline", this.onOffline);
		clearTimeout(this.timer);
		this.timer = null;
		this.closeSource();
	}

	connectNow() {
		clearTimeout(this.timer);
		this.timer = null;
		this.closeSource();
		this.open();
	}

	setState(state) {
		if (state === this.state) return;
		this.state = state;
		this.handlers.onState?.(state);
	}

	closeSource() {
		if (!this.source) return;
		this.source.close();
		this.source = null;
	}

	open() {
		if (this.stopped) return;
		this.setState(this.everOpen ? this.offlineOr("reconnecting") : this.offlineOr("connecting"));
		const es = new EventSource(eventsUrl(this.channel, this.epoch ? `${this.epoch}.${this.lastSeq}` : this.lastSeq));
		this.source = es;

		es.addEventListener("open", () => {
			if (es !== this.source) return;
			this.everOpen = true;
			this.attempt = 0;
			this.setState("live");
		});

		es.addEventListener("error", () => {
			if (es !== this.source) return;
			if (es.readyState === EventSource.CLOSED) {
				// The browser gave up on this EventSource; build a new one ourselves.
				this.source = null;
				this.scheduleReconnect();
			} else {
				// CONNECTING: the browser retries on its own, sending Last-Event-ID.
				this.setState(this.everOpen ? this.offlineOr("reconnecting") : this.offlineOr("connecting"));
			}
		});

		es.addEventListener("message", ev => {
			if (es !== this.source) return;
			const msg = parseJson(ev.data);
			if (!msg || typeof msg !== "object") return;
			const seq = Number(msg.seq);
			if (Number.isFinite(seq) && seq > this.lastSeq) this.lastSeq = seq;
			if (typeof msg.epoch === "string") this.epoch = msg.epoch;
			this.handlers.onMessage?.(msg);
		});

		es.addEventListener("reset", ev => {
			if (es !== this.source) return;
			const info = parseJson(ev.data);
			if (!info || typeof info !== "object") return;
			const oldestSeq = Number(info.oldestSeq) || 0;
			const after = this.lastSeq;
			// The server continues right before oldestSeq (also when its count restarted below ours).
			this.lastSeq = Math.max(0, oldestSeq - 1);
			if (typeof info.epoch === "string") this.epoch = info.epoch;
			this.handlers.onReset?.({ oldestSeq, lastSeq: Number(info.lastSeq) || 0, after });
		});

		// The stream's token expired: the server ends it. EventSource would reconnect with the old URL (and
		// get 401): the page opens a new one with the current token, from the last seq it has.
		es.addEventListener("expired", () => {
			if (es !== this.source) return;
			this.closeSource();
			this.setState(this.offlineOr("reconnecting"));
			this.handlers.onExpired?.();
		});

		es.addEventListener("presence", ev => {
			if (es !== this.source) return;
			const info = parseJson(ev.data);
			const subscribers = Number(info?.subscribers);
			if (Number.isFinite(subscribers)) this.handlers.onPresence?.({ subscribers });
		});
	}

	scheduleReconnect() {
		if (this.stopped) return;
		clearTimeout(this.timer);
		this.setState(this.offlineOr(this.everOpen ? "reconnecting" : "connecting"));
		const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
		const delay = Math.round(exp / 2 + Math.random() * (exp / 2));
		this.attempt += 1;
		this.timer = setTimeout(() => {
			this.timer = null;
			this.open();
		}, delay);
	}

	offlineOr(state) {
		return navigator.onLine === false ? "offline" : state;
	}
}

function parseJson(text) {
	try {
		return JSON.parse(text);
	} catch {
		return null;
	}
}
