/**
 * Chatcast's own Prometheus metrics, next to Moleculer's built-in ones (all carry `namespace` and
 * `nodeID` labels). Moleculer turns the dots into underscores: `chatcast.sse.connections` is scraped
 * as `chatcast_sse_connections`.
 *
 * @example
 *   registerChatMetrics(broker.metrics);
 *   broker.metrics.increment(METRIC.PUBLISHED);
 */
import type { MetricRegistry } from "moleculer";

export const METRIC = {
	SSE_CONNECTIONS: "chatcast.sse.connections",
	PUBLISHED: "chatcast.messages.published.total",
	DELIVERED: "chatcast.messages.delivered.total",
	PUBLISH_TO_DELIVER: "chatcast.publish.to.deliver.seconds",
	GAP_REPAIRS: "chatcast.gap.repairs.total",
	HISTORY_ERRORS: "chatcast.history.errors.total",
	REPLAY_READS: "chatcast.replay.history.reads.total",
	REPLAY_SHARED: "chatcast.replay.shared.total",
} as const;

type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Registers the metrics one service uses; a no-op when metrics are off. Safe to call twice. */
export function registerChatMetrics(registry: MetricRegistry, names: MetricName[]): void {
	// Counters start at 0, so a scrape shows them (and rate() works) before the first event.
	const counter = (name: MetricName, description: string) => () => {
		registry.register({ name, type: "counter", description });
		registry.increment(name, undefined, 0);
	};
	const definitions: Record<MetricName, () => void> = {
		[METRIC.SSE_CONNECTIONS]: () =>
			registry.register({ name: METRIC.SSE_CONNECTIONS, type: "gauge", description: "Open SSE streams on this node" }),
		[METRIC.PUBLISHED]: counter(METRIC.PUBLISHED, "Messages accepted (stored and broadcast)"),
		[METRIC.DELIVERED]: counter(METRIC.DELIVERED, "Message writes to SSE subscribers"),
		[METRIC.PUBLISH_TO_DELIVER]: () =>
			registry.register({
				name: METRIC.PUBLISH_TO_DELIVER,
				type: "histogram",
				description: "From a message's sentAt to its write on this broadcast node",
				buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
			}),
		[METRIC.GAP_REPAIRS]: counter(METRIC.GAP_REPAIRS, "Gaps in a channel's seq filled from history"),
		[METRIC.HISTORY_ERRORS]: counter(METRIC.HISTORY_ERRORS, "History store operations that failed"),
		[METRIC.REPLAY_READS]: counter(METRIC.REPLAY_READS, "History reads made for streams opening or resuming"),
		[METRIC.REPLAY_SHARED]: counter(METRIC.REPLAY_SHARED, "Stream history pages answered by a read made for another stream"),
	};
	for (const name of names) if (!registry.hasMetric(name)) definitions[name]();
}
