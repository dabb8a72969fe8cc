// The top bar's status: which channel, the connection state, and how many are online.

const CONN_LABELS = {
	connecting: "Connecting…",
	live: "Live",
	reconnecting: "Reconnecting…",
	offline: "Offline",
};

/**
 * @example
 *   const topbar = new TopBar(els);
 *   topbar.setConnection("live");
 *   topbar.setPresence(2); // "2 online"
 */
export class TopBar {
	/**
	 * @param {{ channelLabel: HTMLElement, channelId: HTMLElement, conn: HTMLElement, connText: HTMLElement,
	 *   presence: HTMLElement, presenceText: HTMLElement }} els
	 */
	constructor(els) {
		this.els = els;
	}

	showChannel(channel) {
		this.els.channelId.textContent = channel.slice(0, 8);
		this.els.channelId.title = channel;
		this.els.channelLabel.hidden = false;
	}

	/** @param {"connecting" | "live" | "reconnecting" | "offline"} state @param {string} [label] */
	setConnection(state, label) {
		this.els.conn.dataset.state = state;
		// The last count is only a memory while we are not connected.
		this.els.presence.classList.toggle("stale", state !== "live");
		this.els.connText.textContent = label || CONN_LABELS[state] || state;
	}

	setPresence(n) {
		this.els.presenceText.textContent = n === 1 ? "1 online" : `${n} online`;
		this.els.presence.title = n === 1 ? "1 person connected to this channel" : `${n} people connected to this channel`;
		this.els.presence.hidden = false;
	}

	/** A count from before the stream's own presence events: used only if none came yet. */
	setInitialPresence(n) {
		if (this.els.presence.hidden && Number.isFinite(n)) this.setPresence(n);
	}
}
