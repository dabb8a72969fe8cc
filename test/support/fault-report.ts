/**
 * What a run of faults did to the clients (test/support/failover-client.ts), one row per fault:
 *
 * - accepted / rejected: messages answered in the fault's window (so one in flight when the fault came
 *   belongs to it), answered 2xx / not (a 503
 *   OUTCOME_UNKNOWN, or no edge answering, counts as rejected; `rejectedStored` says how many of those
 *   the history holds anyway);
 * - lost: accepted messages missing from some subscriber's view at the end;
 * - duplicates: deliveries of a clientMsgId the subscriber's view already had;
 * - recovery: seconds from the fault until publishing works again: the answer to the first accepted
 *   message sent at or after the window's last troubled one (rejected, or needing another edge);
 * - slowest delivery: the longest an accepted message took from its answer to its last subscriber.
 *
 * A subscriber's view is what the demo page shows: its messages since the last `reset` the server sent
 * (a reset says "start over from oldestSeq", e.g. after a Redis failover began a new epoch); earlier
 * views count for duplicates too, and what a reset sends again is counted as `redelivered`, not as a
 * duplicate.
 *
 * @example
 *   const rows = faultRows(faults, publishes, subscribers, storedClientMsgIds);
 *   console.log(formatRows(rows));
 */
import type { PublishRecord, SubscriberEvent } from "./failover-client";

export interface FaultWindow {
	name: string;
	/** When the fault was made; its window lasts until the next fault's (the last one: to the end). */
	at: number;
}

export interface FaultRow {
	fault: string;
	accepted: number;
	rejected: number;
	rejectedStored: number;
	lost: number;
	duplicates: number;
	/** Messages a reset sent again to a subscriber that had them (expected after a new epoch). */
	redelivered: number;
	recoverySeconds: number;
	slowestDeliverySeconds: number;
}

const accepted = (r: PublishRecord): boolean => r.status >= 200 && r.status < 300;

/** Each subscriber's views: its messages' clientMsgIds, split at every reset. */
export function subscriberViews(events: readonly SubscriberEvent[]): string[][] {
	const views: string[][] = [[]];
	for (const event of events) {
		if (event.kind === "reset") views.push([]);
		else if (event.kind === "message" && event.clientMsgId !== undefined) views[views.length - 1].push(event.clientMsgId);
	}
	return views;
}

/** When a subscriber received a message its view already had (duplicates), or an earlier view had (redelivered). */
function repeats(events: readonly SubscriberEvent[]): { duplicates: number[]; redelivered: number[] } {
	const duplicates: number[] = [];
	const redelivered: number[] = [];
	const earlier = new Set<string>();
	let view = new Set<string>();
	for (const event of events) {
		if (event.kind === "reset") {
			for (const id of view) earlier.add(id);
			view = new Set();
		} else if (event.kind === "message" && event.clientMsgId !== undefined) {
			if (view.has(event.clientMsgId)) duplicates.push(event.at);
			else if (earlier.has(event.clientMsgId)) redelivered.push(event.at);
			view.add(event.clientMsgId);
		}
	}
	return { duplicates, redelivered };
}

/** When a subscriber first received each clientMsgId. */
function firstArrival(events: readonly SubscriberEvent[]): Map<string, number> {
	const arrivals = new Map<string, number>();
	for (const event of events)
		if (event.kind === "message" && event.clientMsgId !== undefined && !arrivals.has(event.clientMsgId))
			arrivals.set(event.clientMsgId, event.at);
	return arrivals;
}

/**
 * One row per fault. Publishes belong to the window they were answered in, repeats to the one they were
 * received in.
 */
export function faultRows(
	faults: readonly FaultWindow[],
	publishes: readonly PublishRecord[],
	subscribers: readonly (readonly SubscriberEvent[])[],
	stored: ReadonlySet<string>,
): FaultRow[] {
	const finalViews = subscribers.map(events => new Set(subscriberViews(events).at(-1)));
	const repeated = subscribers.map(repeats);
	const firstArrivals = subscribers.map(firstArrival);
	return faults.map((fault, i) => {
		const until = faults[i + 1]?.at ?? Number.POSITIVE_INFINITY;
		const inWindow = (at: number): boolean => at >= fault.at && at < until;
		const window = publishes.filter(r => inWindow(r.answeredAt));
		const rejected = window.filter(r => !accepted(r));
		const count = (times: (r: { duplicates: number[]; redelivered: number[] }) => number[]): number =>
			repeated.reduce((n, r) => n + times(r).filter(inWindow).length, 0);
		return {
			fault: fault.name,
			accepted: window.length - rejected.length,
			rejected: rejected.length,
			rejectedStored: rejected.filter(r => stored.has(r.clientMsgId)).length,
			lost: window.filter(r => accepted(r) && finalViews.some(view => !view.has(r.clientMsgId))).length,
			duplicates: count(r => r.duplicates),
			redelivered: count(r => r.redelivered),
			recoverySeconds: recoverySeconds(fault.at, window),
			slowestDeliverySeconds: window.filter(accepted).reduce((slowest, r) => {
				const last = Math.max(...firstArrivals.map(arrivals => arrivals.get(r.clientMsgId) ?? r.answeredAt));
				return Math.max(slowest, (last - r.answeredAt) / 1000);
			}, 0),
		};
	});
}

/** Seconds from `at` until the first accepted message sent at or after the last troubled one was answered. */
export function recoverySeconds(at: number, window: readonly PublishRecord[]): number {
	const troubled = window.filter(r => !accepted(r) || r.attempts > 1);
	const from = troubled.length > 0 ? troubled[troubled.length - 1].sentAt : at;
	const first = window.find(r => r.sentAt >= from && accepted(r));
	return first ? (first.answeredAt - at) / 1000 : Number.POSITIVE_INFINITY;
}

/**
 * The troubled messages after a fault (rejected, or sent to more than one edge), one line each, with
 * times from the fault: what to read when a row fails.
 *
 * @example
 *   troubleTimeline(fault, publishes); // "+1.02 s → +2.05 s 503 OUTCOME_UNKNOWN, 1 edge"
 */
export function troubleTimeline(fault: FaultWindow, until: number, publishes: readonly PublishRecord[]): string[] {
	const since = (t: number): string => `+${((t - fault.at) / 1000).toFixed(2)} s`;
	return publishes
		.filter(r => r.answeredAt >= fault.at && r.answeredAt < until && (!accepted(r) || r.attempts > 1))
		.map(r => `${since(r.sentAt)} → ${since(r.answeredAt)} ${r.status}${r.type ? ` ${r.type}` : ""}, ${r.attempts} edge(s)`);
}

/** The rows as a table for the log. */
export function formatRows(rows: readonly FaultRow[]): string {
	const header = [
		"fault",
		"accepted",
		"rejected (stored)",
		"lost",
		"duplicates",
		"redelivered after reset",
		"publishing again after",
		"slowest delivery",
	];
	const lines = rows.map(r => [
		r.fault,
		String(r.accepted),
		`${r.rejected} (${r.rejectedStored})`,
		String(r.lost),
		String(r.duplicates),
		String(r.redelivered),
		`${r.recoverySeconds.toFixed(2)} s`,
		`${r.slowestDeliverySeconds.toFixed(2)} s`,
	]);
	return [header, header.map(() => "---"), ...lines].map(cells => `| ${cells.join(" | ")} |`).join("\n");
}
