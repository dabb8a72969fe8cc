// Per-browser state: which channel we are on, the nickname, and which
// messages this browser sent (so they can be styled as "mine").

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NICK_KEY = "chatcast.nickname";
const SENT_KEY = "chatcast.sentIds";
const SENT_MAX = 500;
export const NICK_MAX = 40;

function isChannelId(value) {
	return typeof value === "string" && UUID_RE.test(value);
}

/**
 * Reads `?c=<uuid>` from the URL. Without `c`, makes a new channel id and
 * writes it into the URL (no reload, no extra history entry).
 * @returns {{ ok: true, channel: string, created: boolean } | { ok: false, raw: string }}
 */
export function resolveChannel(loc = window.location) {
	const url = new URL(loc.href);
	const raw = url.searchParams.get("c");
	if (raw === null || raw.trim() === "") {
		const channel = crypto.randomUUID();
		url.searchParams.set("c", channel);
		history.replaceState(history.state, "", url);
		return { ok: true, channel, created: true };
	}
	const value = raw.trim();
	if (!isChannelId(value)) return { ok: false, raw };
	return { ok: true, channel: value.toLowerCase(), created: false };
}

export function inviteLink(channel, loc = window.location) {
	const url = new URL(loc.pathname, loc.origin);
	url.searchParams.set("c", channel);
	return url.href;
}

function storageGet(key) {
	try {
		return window.localStorage.getItem(key);
	} catch {
		return null;
	}
}

function storageSet(key, value) {
	try {
		window.localStorage.setItem(key, value);
	} catch {
		/* storage full or disabled: keep working for this tab */
	}
}

export function cleanNickname(value) {
	const clean = String(value ?? "")
		// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this removes
		.replace(/[\u0000-\u001f\u007f]+/g, " ")
		.replace(/\s+/g, " ")
		.trim();
	const chars = [...clean];
	return chars.length > NICK_MAX ? chars.slice(0, NICK_MAX).join("").trim() : clean;
}

export function loadNickname() {
	return cleanNickname(storageGet(NICK_KEY) ?? "");
}

export function saveNickname(nick) {
	storageSet(NICK_KEY, cleanNickname(nick));
}

/** Remembers clientMsgIds this browser sent, bounded, across reloads. */
export class SentIds {
	constructor() {
		this.reload();
	}

	/** Re-reads the list (another tab of this browser may have added to it). */
	reload() {
		let list = [];
		try {
			const parsed = JSON.parse(storageGet(SENT_KEY) || "[]");
			if (Array.isArray(parsed)) list = parsed.filter(x => typeof x === "string");
		} catch {
			list = [];
		}
		this.list = list.slice(-SENT_MAX);
		this.set = new Set(this.list);
	}

	has(id) {
		return typeof id === "string" && this.set.has(id);
	}

	add(id) {
		if (this.set.has(id)) return;
		this.set.add(id);
		this.list.push(id);
		if (this.list.length > SENT_MAX) this.set.delete(this.list.shift());
		storageSet(SENT_KEY, JSON.stringify(this.list));
	}
}
