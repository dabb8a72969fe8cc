/**
 * The demo page against a node that requires tokens (AUTH_MODE=all), in a real Chromium: it says so and
 * takes a token (the sign-in field, or ?token= which leaves the address bar), sends it (Bearer on
 * requests, access_token on the stream), publishes and receives under the token's name, and when its
 * stream's token expires it asks for a fresh one and resumes from its last seq without losing a message.
 */
import fs from "node:fs";
import { randomUUID } from "node:crypto";
import { chromium, type Browser, type Page } from "playwright-core";
import { type ChatcastNode, startNode, uniqueNamespace, waitFor } from "../support/node-process";
import { request } from "../support/raw-http";
import { hsToken, nowSeconds } from "../support/tokens";

const CHROMIUM = "/usr/bin/chromium";
const describeBrowser = fs.existsSync(CHROMIUM) ? describe : describe.skip;
const SECRET = "browser-auth-secret-0123456789abcdef0123";

describeBrowser("demo page with auth (Chromium)", () => {
	let browser: Browser;
	let node: ChatcastNode;

	beforeAll(async () => {
		[browser, node] = await Promise.all([
			chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] }),
			startNode({ namespace: uniqueNamespace("browser-auth"), env: { AUTH_JWT_SECRET: SECRET, AUTH_MODE: "all" } }),
		]);
	}, 45_000);
	afterAll(async () => {
		await browser?.close().catch(() => undefined);
		await node?.stop();
	});

	async function newPage(): Promise<{ page: Page; problems: string[] }> {
		const context = await browser.newContext();
		const page = await context.newPage();
		const problems: string[] = [];
		page.on("pageerror", err => problems.push(`page error: ${err.message}`));
		return { page, problems };
	}

	const shown = (page: Page): Promise<string[]> =>
		page
			.locator("#messages li.msg")
			.evaluateAll(items =>
				items.map(li => `${li.querySelector(".author")?.textContent ?? ""}: ${li.querySelector(".text")?.textContent ?? ""}`),
			);

	async function send(page: Page, text: string): Promise<void> {
		await page.locator("#message-input").fill(text);
		await page.locator("#send-btn").click();
		await waitFor(async () => (await shown(page)).some(line => line.endsWith(`: ${text}`)), 10_000, `"${text}" shown`);
	}

	test("signs in with a token (field and ?token=), publishes and receives under the token's name", async () => {
		const channel = randomUUID();
		const ada = await newPage();
		await ada.page.goto(`${node.baseUrl}/?c=${channel}`);
		await ada.page.locator("#signin-form").waitFor({ state: "visible" });
		expect(await ada.page.locator("#signin-reason").textContent()).toMatch(/requires a token to read and send/);
		expect(await ada.page.locator("#composer").isHidden()).toBe(true);
		// Not a token: refused on the page.
		await ada.page.locator("#signin-input").fill("not a token");
		await ada.page.locator("#signin-form button[type=submit]").click();
		expect(await ada.page.locator("#signin-error").textContent()).toMatch(/not a valid/);
		await ada.page.locator("#signin-input").fill(await hsToken(SECRET, { sub: "u-ada", name: "Ada" }));
		await ada.page.locator("#signin-form button[type=submit]").click();
		await ada.page.locator("#composer").waitFor({ state: "visible" });
		expect(await ada.page.locator("#composer-nick").textContent()).toBe("Ada");
		await waitFor(async () => (await ada.page.locator("#conn").getAttribute("data-state")) === "live", 10_000, "ada live");

		const bob = await newPage();
		const bobToken = await hsToken(SECRET, { sub: "u-bob", name: "Bob", channels: [channel] });
		await bob.page.goto(`${node.baseUrl}/?c=${channel}&token=${bobToken}`);
		await bob.page.locator("#composer").waitFor({ state: "visible" });
		// The token left the address bar (and is not in storage).
		expect(bob.page.url()).toBe(`${node.baseUrl}/?c=${channel}`);
		expect(await bob.page.evaluate(() => JSON.stringify(Object.entries(localStorage)))).not.toContain(bobToken);
		await waitFor(async () => (await bob.page.locator("#conn").getAttribute("data-state")) === "live", 10_000, "bob live");

		await send(ada.page, "hello from Ada");
		await waitFor(async () => (await shown(bob.page)).includes("Ada: hello from Ada"), 10_000, "Bob receives Ada's message");
		await send(bob.page, "hi Ada");
		await waitFor(async () => (await shown(ada.page)).includes("Bob: hi Ada"), 10_000, "Ada receives Bob's message");
		const page = await request(`${node.baseUrl}/api/channels/${channel}/messages?after=0`, {
			headers: { Authorization: `Bearer ${bobToken}` },
		});
		expect((page.json.messages as Array<{ userId: string }>).map(m => m.userId)).toEqual(["u-ada", "u-bob"]);
		expect([...ada.problems, ...bob.problems]).toEqual([]);
	}, 60_000);

	test("when the stream's token expires the page asks for a fresh one and resumes without a gap", async () => {
		const channel = randomUUID();
		const writer = await hsToken(SECRET, { sub: "writer", name: "Writer" });
		const publish = (text: string) =>
			request(`${node.baseUrl}/api/channels/${channel}/messages`, {
				method: "POST",
				headers: { Authorization: `Bearer ${writer}` },
				body: text,
			});
		const { page, problems } = await newPage();
		await page.goto(
			`${node.baseUrl}/?c=${channel}&token=${await hsToken(SECRET, { sub: "u-cy", name: "Cy", exp: nowSeconds() + 3 })}`,
		);
		await waitFor(async () => (await page.locator("#conn").getAttribute("data-state")) === "live", 10_000, "live");
		expect((await publish("before")).status).toBe(201);
		await waitFor(async () => (await shown(page)).includes("Writer: before"), 10_000, "before shown");
		await page.locator("#signin-form").waitFor({ state: "visible", timeout: 10_000 });
		expect(await page.locator("#signin-reason").textContent()).toMatch(/expired/);
		// Published while the page has no valid token.
		expect((await publish("while away")).status).toBe(201);
		await page.locator("#signin-input").fill(await hsToken(SECRET, { sub: "u-cy", name: "Cy" }));
		await page.locator("#signin-form button[type=submit]").click();
		await waitFor(async () => (await shown(page)).includes("Writer: while away"), 10_000, "the missed message shown");
		expect((await publish("after")).status).toBe(201);
		await waitFor(async () => (await shown(page)).includes("Writer: after"), 10_000, "after shown");
		expect(await shown(page)).toEqual(["Writer: before", "Writer: while away", "Writer: after"]);
		expect(problems).toEqual([]);
	}, 60_000);
});
