/**
 * The demo chat client (public/) in a real headless Chromium, against real Chatcast node processes
 * (MQTT + Redis). Runs only where /usr/bin/chromium exists (CI installs it).
 *
 * Two all-in-one nodes A and B share a namespace; pages connect to either. The reconnect test kills
 * A and starts it again on the same port, so it runs last.
 */
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { ROOT, startNode, uniqueNamespace, waitFor, type ChatcastNode } from "../support/node-process";
import { get, post, publishMany } from "../support/http";
import { decodePng, imageStats } from "./png";

const CHROMIUM = "/usr/bin/chromium";
const describeBrowser = fs.existsSync(CHROMIUM) ? describe : describe.skip;
const ARTIFACTS = path.join(ROOT, "test/artifacts");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Records what the page's EventSources delivered (see the file). */
const RECORD_EVENT_SOURCE = path.join(__dirname, "record-event-source.js");

/** The little of the DOM the page functions below touch (test/tsconfig has no DOM lib). */
interface PageElement {
	readonly dataset: Record<string, string | undefined>;
	readonly classList: { contains(name: string): boolean };
	readonly className: string;
	readonly textContent: string | null;
	readonly ownerDocument: { readonly activeElement: unknown };
	scrollTop: number;
	readonly scrollHeight: number;
	readonly clientHeight: number;
	querySelector(selector: string): PageElement | null;
	getAttribute(name: string): string | null;
}
// Globals of the page, used only inside functions that run in Chromium.
declare const getComputedStyle: (el: PageElement) => { backgroundColor: string; whiteSpace: string; overflowWrap: string };
declare const localStorage: { setItem(key: string, value: string): void };

/** What the page shows for one message. */
interface ShownMessage {
	seq: number;
	author: string;
	text: string;
	mine: boolean;
	time: string | null;
}

interface ChatPage {
	page: Page;
	context: BrowserContext;
	/** Uncaught errors and CSP violations seen on the page. */
	problems: string[];
	/** alert/confirm/prompt dialogs the page opened (must stay empty). */
	dialogs: string[];
}

describeBrowser("demo chat client (Chromium)", () => {
	let browser: Browser;
	let namespace: string;
	let nodeA: ChatcastNode;
	let nodeB: ChatcastNode;
	let opened: ChatPage[] = [];

	beforeAll(async () => {
		namespace = uniqueNamespace("browser");
		[browser, nodeA, nodeB] = await Promise.all([
			chromium.launch({
				executablePath: CHROMIUM,
				headless: true,
				args: [
					"--no-sandbox",
					"--disable-gpu",
					"--disable-quic",
					"--no-first-run",
					"--disable-background-networking",
					"--disable-component-update",
					"--disable-sync",
				],
			}),
			startNode({ namespace }),
			startNode({ namespace }),
		]);
	}, 45_000);

	afterEach(async () => {
		const pages = opened;
		opened = [];
		await Promise.all(pages.map(p => p.context.close().catch(() => undefined)));
	});

	afterAll(async () => {
		await browser?.close().catch(() => undefined);
		await Promise.all([nodeA, nodeB].map(node => (node && !node.exited ? node.stop() : undefined)));
	});

	// ---- helpers ---------------------------------------------------------------------------

	/**
	 * A fresh browser context and page, not navigated yet (so a test can route requests first), that
	 * records problems, dialogs and what its streams delivered. `nickname` is stored as if chosen before.
	 */
	async function newChat({ viewport = { width: 960, height: 720 }, nickname = "" } = {}): Promise<ChatPage> {
		const context = await browser.newContext({ viewport });
		await context.addInitScript({ path: RECORD_EVENT_SOURCE });
		if (nickname) await context.addInitScript(nick => localStorage.setItem("chatcast.nickname", nick), nickname);
		const page = await context.newPage();
		const chat: ChatPage = { page, context, problems: [], dialogs: [] };
		opened.push(chat);
		page.on("pageerror", err => chat.problems.push(`page error: ${err.message}`));
		page.on("console", msg => {
			if (msg.type() === "error" && /Content Security Policy|Refused to/i.test(msg.text()))
				chat.problems.push(`CSP: ${msg.text()}`);
		});
		page.on("dialog", dialog => {
			chat.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
			void dialog.dismiss().catch(() => undefined);
		});
		return chat;
	}

	/** Opens `url` in a new context; with `nickname`, chooses it by keyboard as a first-time visitor. */
	async function openChat(url: string, nickname?: string, viewport = { width: 960, height: 720 }): Promise<ChatPage> {
		const chat = await newChat({ viewport });
		await chat.page.goto(url);
		if (nickname !== undefined) await chooseNickname(chat.page, nickname);
		return chat;
	}

	/**
	 * Keyboard only: on a first visit the nickname field has focus, Enter saves and moves focus to
	 * the message field. `click` first when the user has been doing something else on the page.
	 */
	async function chooseNickname(page: Page, nickname: string, { click = false } = {}): Promise<void> {
		await page.locator("#nick-input").waitFor();
		if (click) await page.locator("#nick-input").click();
		await waitFor(
			() => page.locator("#nick-input").evaluate((el: PageElement) => el === el.ownerDocument.activeElement),
			5000,
			"nickname focus",
		);
		await page.keyboard.type(nickname);
		await page.keyboard.press("Enter");
		await page.locator("#composer").waitFor();
		await waitFor(
			() => page.locator("#message-input").evaluate((el: PageElement) => el === el.ownerDocument.activeElement),
			5000,
			"composer focus",
		);
	}

	async function waitConn(
		page: Page,
		state: "live" | "reconnecting" | "connecting" | "offline",
		timeout = 10_000,
	): Promise<void> {
		await page.locator(`#conn[data-state="${state}"]`).waitFor({ timeout });
	}

	/** Types into the composer and presses Enter; resolves once the composer is cleared and enabled again. */
	async function send(page: Page, text: string): Promise<void> {
		const input = page.locator("#message-input");
		await input.fill(text);
		await input.press("Enter");
		await waitFor(async () => (await input.inputValue()) === "" && (await input.isEnabled()), 10_000, `sending "${text}"`);
		expect(await page.locator("#send-error").textContent()).toBe("");
	}

	async function shown(page: Page): Promise<ShownMessage[]> {
		return page.locator("#messages > li.msg").evaluateAll((items: PageElement[]) =>
			items.map(li => ({
				seq: Number(li.dataset.seq),
				author: li.querySelector(".author")?.textContent ?? "",
				text: li.querySelector(".text")?.textContent ?? "",
				mine: li.classList.contains("mine"),
				time: li.querySelector("time")?.getAttribute("datetime") ?? null,
			})),
		);
	}

	async function waitTexts(page: Page, texts: string[], timeout = 10_000): Promise<ShownMessage[]> {
		let last: string[] = [];
		try {
			return (await waitFor(
				async () => {
					const messages = await shown(page);
					last = messages.map(m => m.text);
					return JSON.stringify(last) === JSON.stringify(texts) ? messages : undefined;
				},
				timeout,
				"messages",
			)) as ShownMessage[];
		} catch (err) {
			throw new Error(`${(err as Error).message}\n  expected ${JSON.stringify(texts)}\n  shown    ${JSON.stringify(last)}`);
		}
	}

	function expectOrderedOnce(messages: ShownMessage[]): void {
		const seqs = messages.map(m => m.seq);
		expect(seqs.every((seq, i) => Number.isInteger(seq) && (i === 0 || seq > seqs[i - 1]))).toBe(true);
		expect(new Set(messages.map(m => m.text)).size).toBe(messages.length);
	}

	/**
	 * The seqs of every `message` event the page's streams delivered, in order, duplicates included:
	 * the page drops duplicates before showing, so only this can tell that a stream repeated one.
	 */
	async function streamed(page: Page): Promise<number[]> {
		const events = await page.evaluate<{ id: string; data: string }[]>("window.__streamedMessages");
		return events.map(ev => Number(JSON.parse(ev.data).seq));
	}

	/** No page errors or CSP violations, no dialogs, and no stream delivered a seq twice. */
	async function expectClean(...chats: ChatPage[]): Promise<void> {
		for (const chat of chats) {
			expect(chat.problems).toEqual([]);
			expect(chat.dialogs).toEqual([]);
			const seqs = await streamed(chat.page);
			expect(seqs.filter((seq, i) => seqs.indexOf(seq) !== i)).toEqual([]);
		}
	}

	/** The element's box; it must be rendered. */
	async function boxOf(locator: Locator): Promise<{ x: number; y: number; width: number; height: number }> {
		const box = await locator.boundingBox();
		if (!box) throw new Error(`${locator} has no box`);
		return box;
	}

	const bubbleBackground = (page: Page, selector: string): Promise<string> =>
		page
			.locator(`${selector} .bubble`)
			.first()
			.evaluate((el: PageElement) => getComputedStyle(el).backgroundColor);

	const channelUrl = (node: ChatcastNode, channel: string): string => `${node.baseUrl}/?c=${channel}`;

	// ---- tests -----------------------------------------------------------------------------

	test("two pages on one channel (on different nodes) chat both ways, own and others' styled differently", async () => {
		const channel = randomUUID();
		const alice = await openChat(channelUrl(nodeA, channel), "Alice");
		const bob = await openChat(channelUrl(nodeB, channel), "Bob");
		await Promise.all([waitConn(alice.page, "live"), waitConn(bob.page, "live")]);

		await send(alice.page, "Hi Bob! Did the deploy go out?");
		await waitTexts(bob.page, ["Hi Bob! Did the deploy go out?"]);
		// Keyboard: Shift+Enter is a new line, Enter sends.
		await bob.page.keyboard.type("Yes, on both nodes.");
		await bob.page.keyboard.press("Shift+Enter");
		await bob.page.keyboard.type("  Second line, indented.");
		await bob.page.keyboard.press("Enter");
		await waitFor(async () => (await bob.page.locator("#message-input").inputValue()) === "", 5000, "Bob's send");
		await send(alice.page, `A long word wraps: ${"pneumonoultramicroscopicsilicovolcanoconiosis".repeat(3)}`);

		const texts = [
			"Hi Bob! Did the deploy go out?",
			"Yes, on both nodes.\n  Second line, indented.",
			`A long word wraps: ${"pneumonoultramicroscopicsilicovolcanoconiosis".repeat(3)}`,
		];
		const [onAlice, onBob] = await Promise.all([waitTexts(alice.page, texts), waitTexts(bob.page, texts)]);
		expect(onAlice.map(m => [m.author, m.mine])).toEqual([
			["Alice", true],
			["Bob", false],
			["Alice", true],
		]);
		expect(onBob.map(m => [m.author, m.mine])).toEqual([
			["Alice", false],
			["Bob", true],
			["Alice", false],
		]);
		expect(onAlice.map(m => m.seq)).toEqual(onBob.map(m => m.seq));
		expectOrderedOnce(onAlice);
		for (const m of onAlice) expect(Number.isNaN(Date.parse(m.time ?? ""))).toBe(false);

		// Styled differently: other colours, own messages on the right.
		expect(await bubbleBackground(alice.page, ".msg.mine")).not.toBe(await bubbleBackground(alice.page, ".msg.theirs"));
		const mineBox = await boxOf(alice.page.locator(".msg.mine .bubble").first());
		const theirsBox = await boxOf(alice.page.locator(".msg.theirs .bubble").first());
		expect(mineBox.x).toBeGreaterThan(theirsBox.x);
		// Newlines kept, long words wrapped inside the bubble.
		const textStyle = await alice.page
			.locator(".msg .text")
			.first()
			.evaluate((el: PageElement) => {
				const style = getComputedStyle(el);
				return [style.whiteSpace, style.overflowWrap];
			});
		expect(textStyle).toEqual(["pre-wrap", "anywhere"]);
		const longBubble = await boxOf(alice.page.locator(".msg.mine .bubble").last());
		const list = await boxOf(alice.page.locator("#messages"));
		expect(longBubble.x + longBubble.width).toBeLessThanOrEqual(list.x + list.width + 1);

		// Subscriber count over both nodes.
		await Promise.all([
			waitFor(async () => (await alice.page.locator("#presence-text").textContent()) === "2 online", 10_000, "presence on Alice"),
			waitFor(async () => (await bob.page.locator("#presence-text").textContent()) === "2 online", 10_000, "presence on Bob"),
		]);

		fs.mkdirSync(ARTIFACTS, { recursive: true });
		for (const [name, chat] of [
			["alice", alice],
			["bob", bob],
		] as const) {
			const file = path.join(ARTIFACTS, `two-page-chat-${name}.png`);
			const png = await chat.page.screenshot({ path: file });
			expect(png.length).toBeGreaterThan(10_000);
			const stats = imageStats(decodePng(png));
			expect(stats.distinctColors).toBeGreaterThan(100);
			expect(stats.lumaStdDev).toBeGreaterThan(10);
		}
		await expectClean(alice, bob);
	}, 30_000);

	test("a page opened later shows the history in order, and can load earlier messages", async () => {
		const channel = randomUUID();
		const sent = await publishMany(nodeB.baseUrl, channel, 60, "history ");
		const reader = await openChat(channelUrl(nodeA, channel), "Reader");
		await waitConn(reader.page, "live");

		const recent = await waitTexts(
			reader.page,
			sent.slice(-50).map(m => m.text),
		);
		expect(recent.map(m => m.seq)).toEqual(sent.slice(-50).map(m => m.seq));
		expect(recent.every(m => !m.mine && m.author === "tester")).toBe(true);

		await reader.page.locator("#older-btn").click();
		const all = await waitTexts(
			reader.page,
			sent.map(m => m.text),
		);
		expectOrderedOnce(all);
		await reader.page.locator("#older").waitFor({ state: "hidden" });

		// Live messages continue after the history.
		await post(`${nodeB.baseUrl}/api/channels/${channel}/messages`, { text: "after the history", author: "tester" });
		await waitTexts(reader.page, [...sent.map(m => m.text), "after the history"]);
		// The stream resumed after the newest message loaded, so it repeated none of them.
		expect(await streamed(reader.page)).toEqual([61]);
		await expectClean(reader);
	}, 30_000);

	test("message text is shown as text and never runs", async () => {
		const channel = randomUUID();
		const mallory = await openChat(channelUrl(nodeA, channel), "Mallory <b>bold</b>");
		const viewer = await openChat(channelUrl(nodeB, channel), "Viewer");
		await Promise.all([waitConn(mallory.page, "live"), waitConn(viewer.page, "live")]);

		const payloads = [
			"<img src=x onerror=alert(1)>",
			"<script>alert(2)</script>",
			'<img src=x onerror="window.__xss = 1"><svg onload=alert(3)></svg>',
		];
		await send(mallory.page, payloads[0]);
		await send(mallory.page, payloads[1]);
		const api = await post(`${nodeB.baseUrl}/api/channels/${channel}/messages`, {
			text: payloads[2],
			author: "<img src=x onerror=alert(4)>",
		});
		expect(api.status).toBe(201);

		for (const chat of [mallory, viewer]) {
			const messages = await waitTexts(chat.page, payloads);
			expect(messages.map(m => m.author)).toEqual(["Mallory <b>bold</b>", "Mallory <b>bold</b>", "<img src=x onerror=alert(4)>"]);
			expect(await chat.page.locator("#messages img, #messages script, #messages svg, #messages b").count()).toBe(0);
		}
		// A late page renders the same from history.
		const late = await openChat(channelUrl(nodeA, channel), "Late");
		await waitTexts(late.page, payloads);
		expect(await late.page.locator("#messages img, #messages script, #messages svg").count()).toBe(0);

		await viewer.page.waitForTimeout(500); // room for any onerror/onload to fire
		for (const chat of [mallory, viewer, late]) expect(await chat.page.evaluate("typeof window.__xss")).toBe("undefined");
		await expectClean(mallory, viewer, late);
	}, 30_000);

	test("/ without a channel creates one; its invite link works in a second page", async () => {
		const host = await openChat(`${nodeA.baseUrl}/`);
		await host.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: nodeA.baseUrl });
		await waitFor(() => /[?&]c=/.test(host.page.url()), 5000, "channel in the URL");
		const url = new URL(host.page.url());
		const channel = url.searchParams.get("c") ?? "";
		expect(channel).toMatch(UUID);
		expect(url.pathname).toBe("/");

		await host.page.locator("#invite-panel").waitFor();
		const invite = await host.page.locator("#invite-link").inputValue();
		expect(invite).toBe(`${nodeA.baseUrl}/?c=${channel}`);
		await host.page.locator("#invite-copy").click();
		await waitFor(
			async () => /copied/i.test((await host.page.locator("#invite-feedback").textContent()) ?? ""),
			5000,
			"copy feedback",
		);
		expect(await host.page.evaluate("navigator.clipboard.readText()")).toBe(invite);

		await chooseNickname(host.page, "Host", { click: true });
		await waitConn(host.page, "live");
		const guest = await openChat(invite, "Guest");
		await waitConn(guest.page, "live");
		expect(new URL(guest.page.url()).searchParams.get("c")).toBe(channel);
		await expect(guest.page.locator("#invite-panel").isVisible()).resolves.toBe(false);

		await send(guest.page, "Came in through the invite link");
		await send(host.page, "Welcome!");
		const texts = ["Came in through the invite link", "Welcome!"];
		await Promise.all([waitTexts(host.page, texts), waitTexts(guest.page, texts)]);
		expect((await shown(host.page)).map(m => m.mine)).toEqual([false, true]);
		await waitFor(async () => (await host.page.locator("#presence-text").textContent()) === "2 online", 10_000, "presence");

		// A reload keeps the nickname and the channel.
		await guest.page.reload();
		await guest.page.locator("#composer").waitFor();
		expect(await guest.page.locator("#composer-nick").textContent()).toBe("Guest");
		await waitTexts(guest.page, texts);
		expect((await shown(guest.page)).map(m => m.mine)).toEqual([true, false]);
		await expectClean(host, guest);
	}, 30_000);

	test("an invalid channel id shows a clear message", async () => {
		const chat = await openChat(`${nodeA.baseUrl}/?c=not-a-channel%3Cb%3E`);
		await chat.page.locator("#fatal").waitFor();
		expect(await chat.page.locator("#fatal-title").textContent()).toMatch(/isn't valid/);
		expect(await chat.page.locator("#fatal-detail").textContent()).toContain("not-a-channel<b>");
		expect(await chat.page.locator("#composer-area").isVisible()).toBe(false);
		expect(await chat.page.locator("#fatal-new").getAttribute("href")).toBe("./");
		await expectClean(chat);
	}, 15_000);

	test("a failed send keeps the text and shows the server's error; a retry is idempotent", async () => {
		const channel = randomUUID();
		const chat = await openChat(channelUrl(nodeA, channel), "Sam");
		await waitConn(chat.page, "live");
		const input = chat.page.locator("#message-input");

		// Too large: the server's own message is shown, nothing is lost.
		const big = "x".repeat(5000);
		const expected = await post<{ message: string }>(`${nodeA.baseUrl}/api/channels/${channel}/messages`, { text: big });
		expect(expected.status).toBe(413);
		await input.fill(big);
		await input.press("Enter");
		await waitFor(
			async () => ((await chat.page.locator("#send-error").textContent()) ?? "").includes(expected.body.message),
			5000,
			"error text",
		);
		expect(await input.inputValue()).toBe(big);
		expect(await input.isEnabled()).toBe(true);
		expect(await chat.page.locator("#byte-count").textContent()).toContain("5,000");

		// The answer to a send is lost after the server stored it, while the stream is down too:
		// pressing Enter again re-sends with the same clientMsgId, and the message exists once.
		await chat.context.route("**/api/channels/*/events*", route => route.abort("connectionreset"));
		await chat.page.reload();
		let dropped = 0;
		await chat.context.route("**/api/channels/*/messages", async route => {
			if (route.request().method() === "POST" && dropped === 0) {
				dropped += 1;
				await route.fetch(); // reaches the server…
				await route.abort("connectionreset"); // …but the page never hears back
				return;
			}
			await route.continue();
		});
		await chat.page.locator("#composer").waitFor();
		await input.fill("exactly once, please");
		await input.press("Enter");
		await waitFor(async () => ((await chat.page.locator("#send-error").textContent()) ?? "").length > 0, 5000, "send error");
		expect(await input.inputValue()).toBe("exactly once, please");
		await input.press("Enter");
		await waitFor(async () => (await input.inputValue()) === "", 5000, "retry succeeded");
		const onPage = await waitTexts(chat.page, ["exactly once, please"]);
		expect(onPage[0].mine).toBe(true);
		const history = await get<{ messages: { text: string }[] }>(`${nodeA.baseUrl}/api/channels/${channel}/messages`);
		expect(history.body.messages.map(m => m.text)).toEqual(["exactly once, please"]);
		expect(dropped).toBe(1);
		await expectClean(chat);
	}, 30_000);

	test("autoscroll only at the bottom, otherwise a new-messages button; the input is disabled while sending", async () => {
		const channel = randomUUID();
		const messagesUrl = `${nodeB.baseUrl}/api/channels/${channel}/messages`;
		await publishMany(nodeB.baseUrl, channel, 30, "filler ");
		const chat = await openChat(channelUrl(nodeA, channel), "Reader", { width: 800, height: 500 });
		await waitConn(chat.page, "live");
		const timeline = chat.page.locator("#timeline");
		const distanceFromBottom = (): Promise<number> =>
			timeline.evaluate((el: PageElement) => el.scrollHeight - el.scrollTop - el.clientHeight);
		await waitTexts(
			chat.page,
			Array.from({ length: 30 }, (_, i) => `filler ${i + 1}`),
		);
		expect(await distanceFromBottom()).toBeLessThan(5);

		// At the bottom: follows new messages.
		await post(messagesUrl, { text: "follows along", author: "tester" });
		await waitFor(
			async () => (await chat.page.locator(".msg .text").last().textContent()) === "follows along",
			5000,
			"live message",
		);
		await waitFor(async () => (await distanceFromBottom()) < 5, 2000, "autoscroll");
		expect(await chat.page.locator("#jump").isVisible()).toBe(false);

		// Scrolled up to read: stays put, offers a jump button.
		await timeline.evaluate((el: PageElement) => {
			el.scrollTop = 0;
		});
		await post(messagesUrl, { text: "arrives while reading", author: "tester" });
		await post(messagesUrl, { text: "and another", author: "tester" });
		await chat.page.locator("#jump").waitFor();
		await waitFor(async () => (await chat.page.locator("#jump-text").textContent()) === "2 new messages", 5000, "jump count");
		expect(await timeline.evaluate((el: PageElement) => el.scrollTop)).toBe(0);
		await chat.page.locator("#jump").click();
		await waitFor(async () => (await distanceFromBottom()) < 5, 2000, "jump to bottom");
		await chat.page.locator("#jump").waitFor({ state: "hidden" });

		// Sending: input and button disabled until the server answers, then cleared and focused again.
		let release = (): void => undefined;
		const held = new Promise<void>(resolve => {
			release = resolve;
		});
		await chat.context.route("**/api/channels/*/messages", async route => {
			if (route.request().method() === "POST") await held;
			await route.continue();
		});
		const input = chat.page.locator("#message-input");
		await input.fill("slow one");
		await input.press("Enter");
		await waitFor(
			async () => (await input.isDisabled()) && (await chat.page.locator("#send-btn").isDisabled()),
			3000,
			"disabled while sending",
		);
		expect(await input.inputValue()).toBe("slow one");
		release();
		await waitFor(async () => (await input.isEnabled()) && (await input.inputValue()) === "", 5000, "sent");
		expect(await input.evaluate((el: PageElement) => el === el.ownerDocument.activeElement)).toBe(true);
		await waitFor(
			async () => (await chat.page.locator(".msg.mine .text").last().textContent()) === "slow one",
			5000,
			"own message",
		);
		await expectClean(chat);
	}, 30_000);

	test("usable at phone width", async () => {
		const channel = randomUUID();
		const longText = `https://example.com/${"a-very-long-path-segment-".repeat(8)} and more`;
		await post(`${nodeA.baseUrl}/api/channels/${channel}/messages`, {
			text: longText,
			author: "Someone with a rather long name",
		});
		const chat = await openChat(channelUrl(nodeA, channel), "Phone", { width: 360, height: 720 });
		await waitConn(chat.page, "live");
		await send(chat.page, "Typed on a phone");
		await waitTexts(chat.page, [longText, "Typed on a phone"]);
		const overflow = await chat.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth");
		expect(overflow).toBe(0);
		const box = await boxOf(chat.page.locator("#send-btn"));
		expect(box.x + box.width).toBeLessThanOrEqual(360);
		expect(box.y + box.height).toBeLessThanOrEqual(720);
		await waitFor(async () => (await chat.page.locator("#presence-text").textContent()) === "1 online", 5000, "presence");
		await chat.page.screenshot({ path: path.join(ARTIFACTS, "phone-width.png") });
		await expectClean(chat);
	}, 20_000);

	test("a refused stream (non-200) and an offline browser: the page reconnects itself, resuming with ?lastEventId", async () => {
		const channel = randomUUID();
		const messagesUrl = `${nodeA.baseUrl}/api/channels/${channel}/messages`;
		const first = (await post(messagesUrl, { text: "first", author: "api" })).body;

		// Chromium opens the page; we stand between it and the server's stream.
		const chat = await newChat({ nickname: "Olive" });
		const { page, context } = chat;
		const streamUrls: string[] = [];
		await context.route("**/api/channels/*/events*", async route => {
			streamUrls.push(route.request().url());
			if (streamUrls.length === 1) {
				// Answered with an error: the EventSource is CLOSED and never retries by itself.
				await post(messagesUrl, { text: "while the stream was refused", author: "api" });
				return route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ message: "try later" }) });
			}
			if (streamUrls.length === 2) {
				await context.setOffline(true);
				return route.abort("internetdisconnected");
			}
			return route.continue();
		});

		await page.goto(channelUrl(nodeA, channel));
		await waitConn(page, "offline");
		expect(await page.locator("#conn-text").textContent()).toBe("Offline");
		await post(messagesUrl, { text: "while offline", author: "api" });
		await context.setOffline(false); // back online: reconnects at once, not after the backoff
		await waitConn(page, "live", 5000);
		await waitTexts(page, ["first", "while the stream was refused", "while offline"]);
		expect(await streamed(page)).toEqual([2, 3]); // "first" came with the history, not again on the stream
		expect(streamUrls.length).toBe(3);
		// The stream's id form: the seq and the count it is of.
		for (const url of streamUrls) expect(new URL(url).searchParams.get("lastEventId")).toBe(`${first.epoch}.1`);
		await expectClean(chat);
	}, 20_000);

	test("shows the server's reset notice when messages it missed are no longer retained", async () => {
		const small = await startNode({ namespace: uniqueNamespace("browser-reset"), env: { HISTORY_LIMIT: "5" } });
		try {
			const channel = randomUUID();
			await publishMany(small.baseUrl, channel, 3, "old ");
			const chat = await newChat({ nickname: "Rita" });
			const { page, context } = chat;
			let first = true;
			await context.route("**/api/channels/*/events*", async route => {
				if (first) {
					// Between the history load and the stream, 8 more arrive; only the last 5 are kept.
					first = false;
					await publishMany(small.baseUrl, channel, 8, "new ");
				}
				await route.continue();
			});
			await page.goto(channelUrl(small, channel));
			await waitConn(page, "live");
			const texts = ["old 1", "old 2", "old 3", "new 4", "new 5", "new 6", "new 7", "new 8"];
			const messages = await waitTexts(page, texts);
			expect(messages.map(m => m.seq)).toEqual([1, 2, 3, 7, 8, 9, 10, 11]);
			expect(await streamed(page)).toEqual([7, 8, 9, 10, 11]);
			const layout = await page.locator("#messages > li").evaluateAll((items: PageElement[]) => items.map(li => li.className));
			expect(layout.map(c => c.split(" ")[0])).toEqual(["msg", "msg", "msg", "notice", "msg", "msg", "msg", "msg", "msg"]);
			expect(await page.locator("#messages > li.notice").textContent()).toMatch(/missed/i);
			await expectClean(chat);
		} finally {
			// Pages first: a stopping node answers a page's reconnects on its kept-alive socket and
			// stays up until its stop timeout (reported to the server side).
			await Promise.all(opened.map(p => p.context.close().catch(() => undefined)));
			await small.stop();
		}
	}, 30_000);

	test("the byte counter follows the server's MAX_MESSAGE_BYTES (GET /api/limits); without it the server's 413 still shows", async () => {
		const tiny = await startNode({ namespace: uniqueNamespace("browser-limits"), env: { MAX_MESSAGE_BYTES: "64" } });
		try {
			expect((await get(`${tiny.baseUrl}/api/limits`)).body).toEqual({ maxMessageBytes: 64, auth: "off" });
			const channel = randomUUID();
			const chat = await openChat(channelUrl(tiny, channel), "Tiny");
			await waitConn(chat.page, "live");
			const input = chat.page.locator("#message-input");
			const counter = chat.page.locator("#byte-count");

			// Shown from 7/8 of the limit on (56 of 64 bytes), counting UTF-8 bytes.
			await input.fill("é".repeat(30));
			await waitFor(
				async () => (await counter.isVisible()) && (await counter.textContent()) === "60 / 64 bytes",
				5000,
				"counter",
			);
			expect(await counter.getAttribute("class")).not.toMatch(/\bover\b/);
			await input.fill("x".repeat(40));
			expect(await counter.isVisible()).toBe(false);
			await input.fill("x".repeat(65));
			expect(await counter.textContent()).toBe("65 / 64 bytes");
			expect(await counter.getAttribute("class")).toMatch(/\bover\b/);
			await input.press("Enter");
			await waitFor(async () => /limit is 64/.test((await chat.page.locator("#send-error").textContent()) ?? ""), 5000, "413");
			expect(await input.inputValue()).toBe("x".repeat(65));
			await chat.page.screenshot({ path: path.join(ARTIFACTS, "byte-limit.png") });
			await send(chat.page, "x".repeat(64));
			await waitTexts(chat.page, ["x".repeat(64)]);

			// The limit could not be learned: no counter, and the server's refusal is what the user sees.
			const blind = await newChat({ nickname: "Blind" });
			await blind.context.route("**/api/limits", route => route.abort("connectionreset"));
			await blind.page.goto(channelUrl(tiny, channel));
			await waitConn(blind.page, "live");
			const blindInput = blind.page.locator("#message-input");
			await blindInput.fill("x".repeat(5000)); // a stale default limit (4096) would show here
			expect(await blind.page.locator("#byte-count").isVisible()).toBe(false);
			await blindInput.fill("x".repeat(65));
			await blindInput.press("Enter");
			await waitFor(async () => /limit is 64/.test((await blind.page.locator("#send-error").textContent()) ?? ""), 5000, "413");
			expect(await blind.page.locator("#byte-count").isVisible()).toBe(false);
			await expectClean(chat, blind);
		} finally {
			await Promise.all(opened.map(p => p.context.close().catch(() => undefined)));
			await tiny.stop();
		}
	}, 30_000);

	// Kills node A, so it runs last.
	test("when its node dies the page shows reconnecting, comes back and shows what it missed, once each", async () => {
		const channel = randomUUID();
		const alice = await openChat(channelUrl(nodeA, channel), "Alice");
		const bob = await openChat(channelUrl(nodeB, channel), "Bob");
		await Promise.all([waitConn(alice.page, "live"), waitConn(bob.page, "live")]);
		await send(bob.page, "before the outage");
		await waitTexts(alice.page, ["before the outage"]);

		const port = nodeA.port;
		await nodeA.kill("SIGKILL");
		await waitConn(alice.page, "reconnecting", 10_000);

		await send(bob.page, "while A was down (1)");
		await send(bob.page, "while A was down (2)");
		expect((await shown(alice.page)).map(m => m.text)).toEqual(["before the outage"]);
		expect(await alice.page.locator("#conn-text").textContent()).toMatch(/reconnecting/i);

		nodeA = await startNode({ namespace, port });
		await waitConn(alice.page, "live", 20_000);
		await waitTexts(alice.page, ["before the outage", "while A was down (1)", "while A was down (2)"]);

		await send(bob.page, "after the restart");
		await send(alice.page, "Alice is back");
		const texts = ["before the outage", "while A was down (1)", "while A was down (2)", "after the restart", "Alice is back"];
		const [onAlice] = await Promise.all([waitTexts(alice.page, texts), waitTexts(bob.page, texts)]);
		expectOrderedOnce(onAlice);
		// Both pages opened on an empty channel, so every message reached them over their streams:
		// each seq must have come exactly once there too (the page would hide a repeat).
		await waitFor(async () => (await streamed(alice.page)).length >= texts.length, 5000, "Alice's own message on her stream");
		await alice.page.waitForTimeout(300); // a late duplicate would show up now
		expect((await shown(alice.page)).map(m => m.text)).toEqual(texts);
		for (const chat of [alice, bob]) expect(await streamed(chat.page)).toEqual(onAlice.map(m => m.seq));
		await expectClean(alice, bob);
	}, 40_000);
});
