/**
 * A publisher that publishes one message after another until stopped, recording every answer: what was
 * accepted (2xx, with its seq), what was rejected, and when — for tests that break something meanwhile.
 *
 * @example
 *   const publisher = startPublisher(`${edge.baseUrl}/api/channels/${channel}/messages`);
 *   const killedAt = Date.now(); await brokerNode.kill();
 *   await publisher.stop();
 *   publisher.secondsUntilAccepted(killedAt); // e.g. 1.2
 */
import { randomUUID } from "node:crypto";

export interface PublishAnswer {
	/** When the request was sent and answered (Date.now()). */
	sentAt: number;
	answeredAt: number;
	/** HTTP status; 0 when no answer came (connection error, timeout). */
	status: number;
	seq?: number;
	/** The error's catalogue type of a refused publish (SERVICE_UNAVAILABLE, OUTCOME_UNKNOWN, …). */
	type?: string;
}

export interface ContinuousPublisher {
	readonly answers: readonly PublishAnswer[];
	readonly accepted: readonly PublishAnswer[];
	readonly rejected: readonly PublishAnswer[];
	/** Seconds from `since` until a request sent after it was accepted; Infinity if none was. */
	secondsUntilAccepted(since: number): number;
	/**
	 * The answers as runs of the same outcome, times in seconds from `since` (when each run's first request was
	 * sent, when its last was answered): `201×415 -1.00…0.00 | 503 SERVICE_UNAVAILABLE×96 0.00…1.02 | …`.
	 */
	timeline(since: number): string;
	/** Finishes the request in flight and stops. */
	stop(): Promise<void>;
}

/** A request that gets no answer in this long counts as rejected (Chatcast answers 503 after 5 s). */
const REQUEST_TIMEOUT_MS = 8_000;

export function startPublisher(url: string, { pauseMs = 5 } = {}): ContinuousPublisher {
	const answers: PublishAnswer[] = [];
	let running = true;
	const publishOne = async (): Promise<PublishAnswer> => {
		const sentAt = Date.now();
		try {
			const res = await fetch(url, {
				method: "POST",
				headers: { "Content-Type": "application/json" },
				body: JSON.stringify({ text: `m${answers.length}`, author: "publisher", clientMsgId: randomUUID() }),
				signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
			});
			const body = (await res.json().catch(() => ({}))) as { seq?: number; type?: string };
			return { sentAt, answeredAt: Date.now(), status: res.status, seq: res.ok ? body.seq : undefined, type: body.type };
		} catch {
			return { sentAt, answeredAt: Date.now(), status: 0 };
		}
	};
	const loop = (async () => {
		while (running) {
			answers.push(await publishOne());
			await new Promise(r => setTimeout(r, pauseMs));
		}
	})();
	const ok = (a: PublishAnswer): boolean => a.status >= 200 && a.status < 300;
	return {
		answers,
		get accepted() {
			return answers.filter(ok);
		},
		get rejected() {
			return answers.filter(a => !ok(a));
		},
		secondsUntilAccepted(since) {
			const first = answers.find(a => ok(a) && a.sentAt >= since);
			return first ? (first.answeredAt - since) / 1000 : Number.POSITIVE_INFINITY;
		},
		timeline(since) {
			const runs: { outcome: string; count: number; from: number; to: number }[] = [];
			for (const a of answers) {
				const outcome = ok(a) ? String(a.status) : `${a.status || "no answer"}${a.type ? ` ${a.type}` : ""}`;
				const last = runs[runs.length - 1];
				if (last?.outcome === outcome) {
					last.count++;
					last.to = a.answeredAt;
				} else runs.push({ outcome, count: 1, from: a.sentAt, to: a.answeredAt });
			}
			const s = (t: number): string => ((t - since) / 1000).toFixed(2);
			return runs.map(r => `${r.outcome}×${r.count} ${s(r.from)}…${s(r.to)}`).join(" | ");
		},
		async stop() {
			running = false;
			await loop;
		},
	};
}
