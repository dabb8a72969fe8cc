/**
 * Bounds on the streams one edge holds: in all, per client address, and how many distinct channels one
 * client may follow at once. Counts live only while streams are open, so what they cost is bounded by
 * the streams themselves.
 *
 * @example
 *   const limits = new StreamLimits({ perEdge: 10_000, perClient: 20, channelsPerClient: 10 });
 *   const lease = limits.open("203.0.113.9", channel);
 *   if ("refused" in lease) return refuse(lease.refused); // "edge" | "client" | "channels"
 *   res.once("close", lease.release);
 */
export interface StreamLimitOptions {
	/** Streams this edge holds at most. */
	perEdge: number;
	/** Streams one client address may hold on this edge. */
	perClient: number;
	/** Distinct channels one client address may stream at once on this edge. */
	channelsPerClient: number;
}

export type StreamRefusal = "edge" | "client" | "channels";

export class StreamLimits {
	private total = 0;
	/** client → channel → open streams */
	private readonly clients = new Map<string, Map<string, number>>();

	constructor(readonly options: StreamLimitOptions) {}

	/** Counts a new stream, or says which bound it would break. `release` may be called more than once. */
	open(client: string, channel: string): { release: () => void } | { refused: StreamRefusal } {
		if (this.total >= this.options.perEdge) return { refused: "edge" };
		const channels = this.clients.get(client) ?? new Map<string, number>();
		let streams = 0;
		for (const count of channels.values()) streams += count;
		if (streams >= this.options.perClient) return { refused: "client" };
		if (!channels.has(channel) && channels.size >= this.options.channelsPerClient) return { refused: "channels" };
		channels.set(channel, (channels.get(channel) ?? 0) + 1);
		this.clients.set(client, channels);
		this.total++;
		let released = false;
		return {
			release: () => {
				if (released) return;
				released = true;
				this.total--;
				const left = (channels.get(channel) ?? 1) - 1;
				if (left > 0) channels.set(channel, left);
				else channels.delete(channel);
				if (channels.size === 0) this.clients.delete(client);
			},
		};
	}

	/** Streams counted now. */
	get streams(): number {
		return this.total;
	}
}
