/**
 * Who is subscribed where, over all broadcast nodes: each node announces its own counts, every node
 * keeps the table and sums it.
 *
 * @example
 *   table.update("node-1", { [channel]: 3 });
 *   table.update("node-2", { [channel]: 2 });
 *   table.total(channel);      // 5
 *   table.removeNode("node-2"); // its subscribers are gone with it
 */
export type ChannelCounts = Record<string, number>;

export class PresenceTable {
	/** channel → nodeID → subscribers */
	private readonly channels = new Map<string, Map<string, number>>();

	/** Records a node's counts for the channels named; a count of 0 removes the entry. */
	update(nodeID: string, counts: ChannelCounts): void {
		for (const [channel, count] of Object.entries(counts)) {
			let nodes = this.channels.get(channel);
			if (count > 0) {
				if (!nodes) {
					nodes = new Map();
					this.channels.set(channel, nodes);
				}
				nodes.set(nodeID, count);
			} else if (nodes) {
				nodes.delete(nodeID);
				if (nodes.size === 0) this.channels.delete(channel);
			}
		}
	}

	/** Forgets a node; returns the channels whose totals changed. */
	removeNode(nodeID: string): string[] {
		const changed: string[] = [];
		for (const [channel, nodes] of this.channels) {
			if (nodes.delete(nodeID)) {
				changed.push(channel);
				if (nodes.size === 0) this.channels.delete(channel);
			}
		}
		return changed;
	}

	total(channel: string): number {
		let sum = 0;
		for (const count of this.channels.get(channel)?.values() ?? []) sum += count;
		return sum;
	}

	/** Per-node counts of a channel. */
	byNode(channel: string): ChannelCounts {
		return Object.fromEntries(this.channels.get(channel) ?? []);
	}

	/** Every channel with its total, most subscribed first. */
	channelTotals(): Array<{ channel: string; subscribers: number }> {
		return [...this.channels.keys()]
			.map(channel => ({ channel, subscribers: this.total(channel) }))
			.sort((a, b) => b.subscribers - a.subscribers || a.channel.localeCompare(b.channel));
	}
}
