// Chatcast demo client: wires the URL/session, history, live stream and composer together.

import { ApiError, getChannel, getMessages, getRecentMessages, postMessage } from "./server-api.js";
import { ChannelStream } from "./stream.js";
import { Timeline } from "./timeline.js";
import { NICK_MAX, SentIds, cleanNickname, inviteLink, loadNickname, resolveChannel, saveNickname } from "./session.js";

const HISTORY_COUNT = 50;
const SEND_TIMEOUT_MS = 15000;
const BYTE_LIMIT = 4096;
const BYTE_WARN = 3584;

const $ = id => /** @type {HTMLElement} */ (document.getElementById(id));

const els = {
	channelLabel: $("channel-label"),
	channelId: $("channel-id"),
	conn: $("conn"),
	connText: $("conn-text"),
	presence: $("presence"),
	presenceText: $("presence-text"),
	inviteBtn: /** @type {HTMLButtonElement} */ ($("invite-btn")),
	renameBtn: /** @type {HTMLButtonElement} */ ($("rename-btn")),
	invitePanel: $("invite-panel"),
	inviteTitle: $("invite-title"),
	inviteLink: /** @type {HTMLInputElement} */ ($("invite-link")),
	inviteCopy: /** @type {HTMLButtonElement} */ ($("invite-copy")),
	inviteClose: /** @type {HTMLButtonElement} */ ($("invite-close")),
	inviteFeedback: $("invite-feedback"),
	fatal: $("fatal"),
	fatalTitle: $("fatal-title"),
	fatalDetail: $("fatal-detail"),
	timelineWrap: $("timeline-wrap"),
	timeline: $("timeline"),
	older: $("older"),
	olderBtn: /** @type {HTMLButtonElement} */ ($("older-btn")),
	messages: $("messages"),
	empty: $("empty"),
	loading: $("loading"),
	jump: /** @type {HTMLButtonElement} */ ($("jump")),
	jumpText: $("jump-text"),
	composerArea: $("composer-area"),
	nickForm: /** @type {HTMLFormElement} */ ($("nick-form")),
	nickInput: /** @type {HTMLInputElement} */ ($("nick-input")),
	nickCancel: /** @type {HTMLButtonElement} */ ($("nick-cancel")),
	nickError: $("nick-error"),
	composer: /** @type {HTMLFormElement} */ ($("composer")),
	composerNick: $("composer-nick"),
	input: /** @type {HTMLTextAreaElement} */ ($("message-input")),
	sendBtn: /** @type {HTMLButtonElement} */ ($("send-btn")),
	sendError: $("send-error"),
	byteCount: $("byte-count"),
};

const CONN_LABELS = {
	connecting: "Connecting…",
	live: "Live",
	reconnecting: "Reconnecting…",
	offline: "Offline",
};

const sleep = ms =>
	new Promise(resolve => {
		setTimeout(resolve, ms);
	});
const encoder = new TextEncoder();

main();

function main() {
	const where = resolveChannel();
	if (!where.ok) {
		showFatal(
			"This channel link isn't valid",
			`“${truncate(where.raw, 80)}” is not a channel id. Check the link you were given, or start a new channel.`,
		);
		setConn("offline", "Not connected");
		return;
	}
	startChat(where.channel, where.created);
}

function startChat(channel, created) {
	const sentIds = new SentIds();
	let nickname = loadNickname();
	let oldestRetained = null;
	let sending = false;
	/** @type {{ text: string, clientMsgId: string } | null} */
	let pending = null;
	let hiddenUnread = 0;

	const link = inviteLink(channel);
	document.title = "Chatcast";
	els.channelId.textContent = channel.slice(0, 8);
	els.channelId.title = channel;
	els.channelLabel.hidden = false;
	els.inviteBtn.hidden = false;
	els.inviteLink.value = link;
	els.timelineWrap.hidden = false;
	els.composerArea.hidden = false;
	if (created) openInvitePanel("New channel created");

	const isMine = msg => (msg.clientMsgId ? sentIds.has(msg.clientMsgId) : Boolean(nickname) && msg.author === nickname);

	const timeline = new Timeline({
		scroller: els.timeline,
		list: els.messages,
		empty: els.empty,
		jump: els.jump,
		jumpText: els.jumpText,
		isMine,
	});

	const stream = new ChannelStream(channel, {
		onState: state => setConn(state),
		onMessage: msg => {
			reconcilePending(msg);
			const added = timeline.addMessages([msg], { mode: "live" });
			if (added && document.hidden) {
				hiddenUnread += added;
				document.title = `(${hiddenUnread}) Chatcast`;
			}
		},
		onReset: ({ oldestSeq, lastSeq, after }) => {
			oldestRetained = oldestSeq;
			if (lastSeq < after) {
				// The server's count restarted: our seqs no longer match its seqs, start over.
				timeline.clear();
				timeline.addNotice(oldestSeq, "The channel history was reset on the server. Showing what it has now.");
			} else {
				timeline.addNotice(oldestSeq, "Some messages were missed while you were away and are no longer available.");
			}
			updateOlder();
		},
		// While our own stream is open we are one of the subscribers, whatever an early count says.
		onPresence: ({ subscribers }) => setPresence(stream.state === "live" ? Math.max(1, subscribers) : subscribers),
	});

	document.addEventListener("visibilitychange", () => {
		if (!document.hidden) {
			hiddenUnread = 0;
			document.title = "Chatcast";
		}
	});

	window.addEventListener("storage", ev => {
		if (ev.key === "chatcast.sentIds") {
			sentIds.reload();
			timeline.refreshOwnership();
		} else if (ev.key === "chatcast.nickname") {
			nickname = loadNickname();
			if (nickname) showComposer();
			timeline.refreshOwnership();
		}
	});

	window.addEventListener("pagehide", ev => {
		if (ev.persisted) stream.stop();
	});
	window.addEventListener("pageshow", ev => {
		if (ev.persisted) stream.start(stream.lastSeq);
	});

	// ---- nickname -------------------------------------------------------------

	function showNickForm(canCancel) {
		els.nickInput.value = nickname || "";
		els.nickError.textContent = "";
		els.nickCancel.hidden = !canCancel;
		els.nickForm.hidden = false;
		els.composer.hidden = true;
		els.nickInput.focus();
	}

	function showComposer() {
		els.nickForm.hidden = true;
		els.composer.hidden = false;
		els.composerNick.textContent = nickname;
	}

	els.nickInput.maxLength = NICK_MAX;
	els.nickForm.addEventListener("submit", ev => {
		ev.preventDefault();
		const value = cleanNickname(els.nickInput.value);
		if (!value) {
			els.nickError.textContent = "Please enter a nickname.";
			els.nickInput.setAttribute("aria-invalid", "true");
			els.nickInput.focus();
			return;
		}
		els.nickInput.removeAttribute("aria-invalid");
		nickname = value;
		saveNickname(value);
		showComposer();
		timeline.refreshOwnership();
		els.input.focus();
	});
	els.nickCancel.addEventListener("click", () => {
		showComposer();
		els.renameBtn.focus();
	});
	els.renameBtn.addEventListener("click", () => showNickForm(true));
	els.nickForm.addEventListener("keydown", ev => {
		if (ev.key === "Escape" && !els.nickCancel.hidden) {
			ev.preventDefault();
			els.nickCancel.click();
		}
	});

	if (nickname) showComposer();
	else showNickForm(false);

	// ---- invite ---------------------------------------------------------------

	function openInvitePanel(title) {
		els.inviteTitle.textContent = title;
		els.inviteFeedback.textContent = "";
		els.invitePanel.hidden = false;
	}

	async function copyInvite() {
		let ok = false;
		try {
			if (navigator.clipboard && window.isSecureContext) {
				await navigator.clipboard.writeText(link);
				ok = true;
			}
		} catch {
			ok = false;
		}
		if (!ok) {
			els.invitePanel.hidden = false;
			els.inviteLink.focus();
			els.inviteLink.select();
			try {
				ok = document.execCommand("copy");
			} catch {
				ok = false;
			}
		}
		if (els.invitePanel.hidden) openInvitePanel("Invite others");
		els.inviteFeedback.textContent = ok
			? "Invite link copied to the clipboard."
			: "Could not copy automatically — the link is selected, copy it with Ctrl+C / ⌘C.";
		if (ok) {
			els.inviteBtn.textContent = "Link copied";
			setTimeout(() => {
				els.inviteBtn.textContent = "Copy invite link";
			}, 2000);
		}
	}

	els.inviteBtn.addEventListener("click", copyInvite);
	els.inviteCopy.addEventListener("click", copyInvite);
	els.inviteClose.addEventListener("click", () => {
		els.invitePanel.hidden = true;
		els.inviteBtn.focus();
	});
	els.inviteLink.addEventListener("focus", () => els.inviteLink.select());

	// ---- composer -------------------------------------------------------------

	function setSending(on) {
		sending = on;
		els.input.disabled = on;
		els.sendBtn.disabled = on;
		els.sendBtn.textContent = on ? "Sending…" : "Send";
		els.composer.setAttribute("aria-busy", String(on));
	}

	function updateByteCount() {
		const bytes = encoder.encode(els.input.value).length;
		els.byteCount.hidden = bytes < BYTE_WARN;
		els.byteCount.textContent = `${bytes.toLocaleString()} / ${BYTE_LIMIT.toLocaleString()} bytes`;
		els.byteCount.classList.toggle("over", bytes > BYTE_LIMIT);
	}

	// A send that looked failed (e.g. the answer was lost) but reached the server: the stream
	// brings it back with our clientMsgId, so the draft is done.
	function reconcilePending(msg) {
		if (sending || !pending || !msg || msg.clientMsgId !== pending.clientMsgId) return;
		if (normalizeOutgoing(els.input.value) === pending.text) {
			els.input.value = "";
			els.sendError.textContent = "";
			updateByteCount();
		}
		pending = null;
	}

	async function send() {
		if (sending) return;
		const text = normalizeOutgoing(els.input.value);
		if (!text) {
			els.sendError.textContent = "Write something first.";
			els.input.focus();
			return;
		}
		if (!nickname) {
			showNickForm(false);
			return;
		}
		// Same text as a failed attempt → same clientMsgId, so a retry can't duplicate it.
		if (!pending || pending.text !== text) pending = { text, clientMsgId: crypto.randomUUID() };
		const attempt = pending;
		sentIds.add(attempt.clientMsgId); // before the request: the stream echo may arrive first
		els.sendError.textContent = "";
		setSending(true);
		try {
			const msg = await withTimeout(
				postMessage(channel, { text: attempt.text, author: nickname, clientMsgId: attempt.clientMsgId }),
				SEND_TIMEOUT_MS,
			);
			timeline.addMessages([msg], { mode: "own" });
			if (pending === attempt) pending = null;
			els.input.value = "";
			updateByteCount();
		} catch (err) {
			if (timeline.hasClientMsgId(attempt.clientMsgId)) {
				// It arrived on the stream meanwhile, so it was stored after all.
				if (pending === attempt) pending = null;
				if (normalizeOutgoing(els.input.value) === attempt.text) els.input.value = "";
				updateByteCount();
				return;
			}
			els.sendError.textContent =
				err instanceof Error && err.message ? `Not sent: ${err.message}` : "Not sent: something went wrong. Try again.";
		} finally {
			setSending(false);
			els.input.focus();
		}
	}

	els.composer.addEventListener("submit", ev => {
		ev.preventDefault();
		send();
	});
	els.input.addEventListener("keydown", ev => {
		if (ev.key === "Enter" && !ev.shiftKey && !ev.altKey && !ev.isComposing && ev.keyCode !== 229) {
			ev.preventDefault();
			send();
		}
	});
	els.input.addEventListener("input", () => {
		updateByteCount();
		if (els.sendError.textContent && !sending) els.sendError.textContent = "";
	});

	// ---- history --------------------------------------------------------------

	function updateOlder() {
		const first = timeline.firstSeq;
		els.older.hidden = !(first !== null && oldestRetained !== null && oldestRetained < first);
	}

	els.olderBtn.addEventListener("click", async () => {
		const first = timeline.firstSeq;
		if (first === null || oldestRetained === null) return;
		const after = Math.max(oldestRetained - 1, first - 1 - HISTORY_COUNT, 0);
		els.olderBtn.disabled = true;
		els.olderBtn.textContent = "Loading…";
		try {
			const page = await getMessages(channel, { after, limit: Math.max(1, first - 1 - after) });
			oldestRetained = Number(page.oldestSeq) || oldestRetained;
			timeline.addMessages(
				(page.messages || []).filter(m => Number(m.seq) < first),
				{ mode: "older" },
			);
		} catch (err) {
			els.olderBtn.textContent = "Could not load — try again";
			els.olderBtn.disabled = false;
			return;
		}
		els.olderBtn.disabled = false;
		els.olderBtn.textContent = "Show earlier messages";
		updateOlder();
	});

	async function loadHistory() {
		for (let attempt = 0; ; attempt += 1) {
			try {
				const page = await getRecentMessages(channel, HISTORY_COUNT);
				const messages = Array.isArray(page.messages) ? page.messages : [];
				oldestRetained = Number(page.oldestSeq) || null;
				els.messages.setAttribute("aria-busy", "true");
				timeline.addMessages(messages, { mode: "history" });
				els.messages.setAttribute("aria-busy", "false");
				const maxSeq = messages.reduce((m, x) => Math.max(m, Number(x.seq) || 0), 0);
				return messages.length ? maxSeq : Number(page.lastSeq) || 0;
			} catch (err) {
				if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
					throw err;
				}
				const wait = Math.min(15000, 1000 * 2 ** attempt);
				els.loading.textContent = `Couldn't load messages (${err instanceof Error ? err.message : "error"}). Retrying in ${Math.round(wait / 1000)} s…`;
				await sleep(wait);
			}
		}
	}

	(async () => {
		setConn(navigator.onLine === false ? "offline" : "connecting");
		let resumeFrom;
		try {
			resumeFrom = await loadHistory();
		} catch (err) {
			els.timelineWrap.hidden = true;
			els.composerArea.hidden = true;
			els.invitePanel.hidden = true;
			els.inviteBtn.hidden = true;
			showFatal(
				err instanceof ApiError && err.type === "INVALID_CHANNEL"
					? "This channel link isn't valid"
					: "This channel can't be opened",
				err instanceof Error ? err.message : String(err),
			);
			setConn("offline", "Not connected");
			return;
		}
		els.loading.hidden = true;
		timeline.setReady();
		updateOlder();
		stream.start(resumeFrom);
		getChannel(channel).then(
			info => {
				if (els.presence.hidden && Number.isFinite(Number(info.subscribers))) setPresence(Number(info.subscribers));
			},
			() => {
				/* presence arrives on the stream anyway */
			},
		);
	})();
}

function setPresence(n) {
	els.presenceText.textContent = n === 1 ? "1 online" : `${n} online`;
	els.presence.title = n === 1 ? "1 person connected to this channel" : `${n} people connected to this channel`;
	els.presence.hidden = false;
}

function setConn(state, label) {
	els.conn.dataset.state = state;
	// The last count is only a memory while we are not connected.
	els.presence.classList.toggle("stale", state !== "live");
	els.connText.textContent = label || CONN_LABELS[state] || state;
}

function showFatal(title, detail) {
	els.fatalTitle.textContent = title;
	els.fatalDetail.textContent = detail;
	els.fatal.hidden = false;
	els.timelineWrap.hidden = true;
	els.composerArea.hidden = true;
}

function normalizeOutgoing(text) {
	// Drop leading blank lines and trailing whitespace, keep inner formatting.
	return text.replace(/^(?:[ \t]*\r?\n)+/, "").trimEnd();
}

function truncate(s, n) {
	return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function withTimeout(promise, ms) {
	let timer;
	const timeout = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new ApiError("The server took too long to answer. Try again.")), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
