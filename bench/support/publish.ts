/** Publishing from the bench process: one message, or a fixed rate paced against the clock. */
import http from "node:http";
import { monotonicMs } from "./stats";

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Publishes one message; resolves true for a 2xx answer.
 *
 * @example await publishOne(agent, port, channel, "hello");
 */
export function publishOne(agent: http.Agent, port: number, channel: string, text: string): Promise<boolean> {
	return new Promise(resolve => {
		const req = http.request(
			{
				host: "127.0.0.1",
				port,
				agent,
				method: "POST",
				path: `/api/channels/${channel}/messages`,
				headers: { "Content-Type": "text/plain" },
			},
			res => {
				res.resume();
				resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300);
			},
		);
		req.on("error", () => resolve(false));
		req.end(text);
	});
}

export interface Published {
	ok: number;
	refused: number;
}

/**
 * Publishes `ratePerSecond` for `seconds`, round-robin over `channels`, paced against the clock (no drift from
 * slow timers); each text is `bench <send time>` (monotonic ms), which the latency load reads back.
 *
 * @example const { ok } = await publishAtRate(port, channels, 200, 10);
 */
export async function publishAtRate(
	port: number,
	channels: string[],
	ratePerSecond: number,
	seconds: number,
): Promise<Published> {
	const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
	const total = Math.round(ratePerSecond * seconds);
	const started = monotonicMs();
	const pending: Promise<boolean>[] = [];
	while (pending.length < total) {
		const due = Math.min(total, Math.floor(((monotonicMs() - started) * ratePerSecond) / 1000) + 1);
		while (pending.length < due)
			pending.push(publishOne(agent, port, channels[pending.length % channels.length], `bench ${monotonicMs().toFixed(3)}`));
		await sleep(2);
	}
	const answers = await Promise.all(pending);
	agent.destroy();
	const ok = answers.filter(Boolean).length;
	return { ok, refused: total - ok };
}

/**
 * Publishes `count` messages to each channel, in order per channel, `channels` in parallel.
 *
 * @example await publishEach(port, channels, 101);
 */
export async function publishEach(port: number, channels: string[], count: number): Promise<Published> {
	const agent = new http.Agent({ keepAlive: true, maxSockets: channels.length });
	let ok = 0;
	await Promise.all(
		channels.map(async channel => {
			for (let i = 0; i < count; i++) if (await publishOne(agent, port, channel, `history ${i}`)) ok++;
		}),
	);
	agent.destroy();
	return { ok, refused: channels.length * count - ok };
}
