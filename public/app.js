// Chatcast demo client: finds the page's parts and wires them together (URL/session, history,
// live stream, composer). Each part's behaviour lives in its own module.

import { SignInForm, TokenHolder } from "./auth.js";
import { Composer } from "./composer.js";
import { ChannelHistory } from "./history.js";
import { InvitePanel } from "./invite.js";
import { Layout } from "./layout.js";
import { NicknameForm } from "./nickname.js";
import { ApiError, getChannel, getLimits, postMessage, useToken } from "./server-api.js";
import { SentIds, inviteLink, resolveChannel } from "./session.js";
import { ChannelStream } from "./stream.js";
import { UnreadTitle } from "./tab-title.js";
import { Timeline } from "./timeline.js";
import { TopBar } from "./topbar.js";

const $ = id => /** @type {HTMLElement} */ (document.getElementById(id));

const topbar = new TopBar({
	channelLabel: $("channel-label"),
	channelId: $("channel-id"),
	conn: $("conn"),
	connText: $("conn-text"),
	presence: $("presence"),
	presenceText: $("presence-text"),
});
const layout = new Layout({
	fatal: $("fatal"),
	fatalTitle: $("fatal-title"),
	fatalDetail: $("fatal-detail"),
	timelineWrap: $("timeline-wrap"),
	composerArea: $("composer-area"),
	invitePanel: $("invite-panel"),
	inviteBtn: $("invite-btn"),
});

// A token in the page URL (?token=) is taken into memory and off the address bar before anything else.
const holder = new TokenHolder();
holder.takeFromUrl();
useToken(() => holder.token);

const where = resolveChannel();
if (where.ok) {
	startChat(where.channel, where.created);
} else {
	const raw = where.raw.length > 80 ? `${where.raw.slice(0, 79)}…` : where.raw;
	layout.showFatal(
		"This channel link isn't valid",
		`“${raw}” is not a channel id. Check the link you were given, or start a new channel.`,
	);
	topbar.setConnection("offline", "Not connected");
}

function startChat(channel, created) {
	const sentIds = new SentIds();
	const title = new UnreadTitle();
	topbar.showChannel(channel);
	layout.showChat();

	const invite = new InvitePanel(
		{
			button: $("invite-btn"),
			panel: $("invite-panel"),
			title: $("invite-title"),
			link: $("invite-link"),
			copy: $("invite-copy"),
			close: $("invite-close"),
			feedback: $("invite-feedback"),
		},
		inviteLink(channel),
	);
	if (created) invite.open("New channel created");

	const nickname = new NicknameForm(
		{
			form: $("nick-form"),
			input: $("nick-input"),
			cancel: $("nick-cancel"),
			error: $("nick-error"),
			renameBtn: $("rename-btn"),
			composer: $("composer"),
			composerNick: $("composer-nick"),
		},
		{
			onChange: () => {
				timeline.refreshOwnership();
				composer.focus();
			},
		},
	);

	// Ours if this browser sent it (by clientMsgId); without one, by nickname.
	const isMine = msg =>
		msg.clientMsgId ? sentIds.has(msg.clientMsgId) : Boolean(nickname.value) && msg.author === nickname.value;
	const timeline = new Timeline({
		scroller: $("timeline"),
		list: $("messages"),
		empty: $("empty"),
		jump: $("jump"),
		jumpText: $("jump-text"),
		isMine,
	});
	const channelHistory = new ChannelHistory(
		{ older: $("older"), olderBtn: $("older-btn"), loading: $("loading"), messages: $("messages") },
		channel,
		timeline,
	);

	const composer = new Composer(
		{
			form: $("composer"),
			input: $("message-input"),
			sendBtn: $("send-btn"),
			error: $("send-error"),
			byteCount: $("byte-count"),
		},
		{
			post: draft =>
				postMessage(channel, draft).catch(err => {
					// The token was refused (expired, most likely): ask for a fresh one; the draft stays.
					if (err instanceof ApiError && err.status === 401 && authMode !== "off") askForToken("expired");
					throw err;
				}),
			sentIds,
			author: () => nickname.value,
			askAuthor: () => nickname.ask(false),
			onSent: msg => timeline.addMessages([msg], { mode: "own" }),
			isShown: clientMsgId => timeline.hasClientMsgId(clientMsgId),
		},
	);
	// Whether the server requires a token (GET /api/limits), and the sign-in form for one.
	let authMode = "off";
	let readingStarted = false;
	const signIn = new SignInForm(
		{ form: $("signin-form"), input: $("signin-input"), reason: $("signin-reason"), error: $("signin-error") },
		holder,
		{
			onSignedIn: () => {
				nickname.useIdentity(holder.name);
				timeline.refreshOwnership();
				if (!readingStarted) startReading();
				else if (!stream.stopped) stream.connectNow();
			},
		},
	);
	const askForToken = why => {
		nickname.hide();
		signIn.show(why);
	};

	const stream = new ChannelStream(channel, {
		onState: state => topbar.setConnection(state),
		onMessage: msg => {
			composer.reconcile(msg);
			title.add(timeline.addMessages([msg], { mode: "live" }));
		},
		onReset: info => channelHistory.onReset(info),
		// The stream's token expired: go on with the current token, or ask for a fresh one first.
		onExpired: () => {
			if (!holder.expired) stream.connectNow();
			else askForToken("expired");
		},
		// While our own stream is open we are one of the subscribers, whatever an early count says.
		onPresence: ({ subscribers }) => topbar.setPresence(stream.state === "live" ? Math.max(1, subscribers) : subscribers),
	});

	// Another tab of this browser sent a message or changed the nickname.
	window.addEventListener("storage", ev => {
		if (ev.key === "chatcast.sentIds") sentIds.reload();
		else if (ev.key === "chatcast.nickname") nickname.reload();
		else return;
		timeline.refreshOwnership();
	});
	// The back/forward cache freezes the page: close the stream, resume it on return.
	window.addEventListener("pagehide", ev => {
		if (ev.persisted) stream.stop();
	});
	window.addEventListener("pageshow", ev => {
		if (ev.persisted) stream.start(stream.lastSeq, stream.epoch);
	});

	topbar.setConnection(navigator.onLine === false ? "offline" : "connecting");
	getLimits().then(
		limits => {
			composer.setMaxBytes(Number(limits.maxMessageBytes));
			if (limits.auth === "publish" || limits.auth === "all") {
				authMode = limits.auth;
				if (!holder.expired) nickname.useIdentity(holder.name);
				else {
					askForToken(authMode);
					// Reading needs a token too: history and stream wait for the sign-in.
					if (authMode === "all") return;
				}
			}
			startReading();
		},
		// No limits known: no client-side limit (the server still refuses a too-large text, and the composer
		// shows why), and no sign-in until the server refuses a request.
		() => startReading(),
	);

	/** Loads recent history, then follows the stream from there (once). */
	function startReading() {
		readingStarted = true;
		channelHistory.loadRecent().then(
			resumeFrom => {
				stream.start(resumeFrom.seq, resumeFrom.epoch);
				getChannel(channel).then(
					info => topbar.setInitialPresence(Number(info.subscribers)),
					() => {
						/* presence arrives on the stream anyway */
					},
				);
			},
			err => {
				layout.showFatal(
					err instanceof ApiError && err.type === "INVALID_CHANNEL"
						? "This channel link isn't valid"
						: "This channel can't be opened",
					err instanceof Error ? err.message : String(err),
				);
				topbar.setConnection("offline", "Not connected");
			},
		);
	}
}
