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

/** A user as presence reports it: who, and over how many connections. */
export interface PresenceUser {
	userId: string;
	name: string;
	connections: number;
}

/** One node's changes to one channel's users: users now at `connections` (> 0), users gone from that node. */
export interface UserChanges {
	set: PresenceUser[];
	gone: string[];
}

/** Who appeared or disappeared over all nodes after a change. */
export interface UserDelta {
	joined: Array<{ userId: string; name: string }>;
	left: Array<{ userId: string }>;
}

/**
 * Per channel, per node, the users connected with their connection counts. A user joins with their first
 * connection over all nodes and leaves with their last, so one edge dropping a user who is still on
 * another edge yields no `left`.
 *
 * @example
 *   users.apply("edge-a", "room", { set: [{ userId: "bob", name: "Bob", connections: 1 }], gone: [] }); // joined bob
 *   users.apply("edge-b", "room", { set: [{ userId: "bob", name: "Bob", connections: 2 }], gone: [] }); // nothing
 *   users.apply("edge-a", "room", { set: [], gone: ["bob"] });                                          // nothing
 *   users.removeNode("edge-b"); // { room: { joined: [], left: [{ userId: "bob" }] } }
 */
export class PresenceUsers {
	/** channel → nodeID → userId → user */
	private readonly channels = new Map<string, Map<string, Map<string, PresenceUser>>>();

	/** Applies a node's changes to a channel; returns the users who joined or left over all nodes. */
	apply(nodeID: string, channel: string, changes: UserChanges): UserDelta {
		const delta: UserDelta = { joined: [], left: [] };
		let nodes = this.channels.get(channel);
		for (const user of changes.set) {
			if (user.connections <= 0) continue;
			if (!this.has(channel, user.userId)) delta.joined.push({ userId: user.userId, name: user.name });
			if (!nodes) {
				nodes = new Map();
				this.channels.set(channel, nodes);
			}
			let users = nodes.get(nodeID);
			if (!users) {
				users = new Map();
				nodes.set(nodeID, users);
			}
			users.set(user.userId, { ...user });
		}
		for (const userId of changes.gone) {
			if (!nodes?.get(nodeID)?.delete(userId)) continue;
			if (!this.has(channel, userId)) delta.left.push({ userId });
		}
		this.prune(channel);
		return delta;
	}

	/** Forgets a node; returns, per channel touched, the users with no connection left elsewhere. */
	removeNode(nodeID: string): Record<string, UserDelta> {
		const deltas: Record<string, UserDelta> = {};
		for (const [channel, nodes] of this.channels) {
			const users = nodes.get(nodeID);
			if (!users) continue;
			nodes.delete(nodeID);
			deltas[channel] = { joined: [], left: [...users.keys()].filter(id => !this.has(channel, id)).map(userId => ({ userId })) };
			this.prune(channel);
		}
		return deltas;
	}

	/** The channel's users summed over all nodes, by userId; at most `limit` of them. */
	list(channel: string, limit = Number.POSITIVE_INFINITY): { users: PresenceUser[]; truncated: boolean } {
		const merged = new Map<string, PresenceUser>();
		for (const users of this.channels.get(channel)?.values() ?? []) {
			for (const user of users.values()) {
				const seen = merged.get(user.userId);
				if (seen) seen.connections += user.connections;
				else merged.set(user.userId, { ...user });
			}
		}
		const all = [...merged.values()].sort((a, b) => a.userId.localeCompare(b.userId));
		return { users: all.slice(0, limit), truncated: all.length > limit };
	}

	/** A node's own users of every channel, for a full re-announce. */
	snapshot(nodeID: string): Record<string, PresenceUser[]> {
		const out: Record<string, PresenceUser[]> = {};
		for (const [channel, nodes] of this.channels) {
			const users = nodes.get(nodeID);
			if (users) out[channel] = [...users.values()].map(user => ({ ...user }));
		}
		return out;
	}

	private has(channel: string, userId: string): boolean {
		for (const users of this.channels.get(channel)?.values() ?? []) if (users.has(userId)) return true;
		return false;
	}

	private prune(channel: string): void {
		const nodes = this.channels.get(channel);
		if (!nodes) return;
		for (const [nodeID, users] of nodes) if (users.size === 0) nodes.delete(nodeID);
		if (nodes.size === 0) this.channels.delete(channel);
	}
}

/**
 * Splits per-channel user changes into packets of at most `max` entries (set + gone) per channel, so a
 * full snapshot of a big channel goes out as several bounded bus events.
 *
 * @example
 *   chunkUserChanges({ room: { set: users250, gone: [] } }, 100).length; // 3
 */
export function chunkUserChanges(changes: Record<string, UserChanges>, max: number): Array<Record<string, UserChanges>> {
	const packets: Array<Record<string, UserChanges>> = [];
	for (const [channel, { set, gone }] of Object.entries(changes)) {
		const entries: Array<PresenceUser | string> = [...set, ...gone];
		for (let i = 0, n = 0; i < entries.length; i += max, n++) {
			const slice = entries.slice(i, i + max);
			const packet = packets[n] ?? {};
			packets[n] = packet;
			packet[channel] = {
				set: slice.filter((entry): entry is PresenceUser => typeof entry !== "string"),
				gone: slice.filter((entry): entry is string => typeof entry === "string"),
			};
		}
	}
	return packets;
}

/**
 * This node's own users per channel, counted per stream: what it announces to the other nodes as
 * `UserChanges` (only the users that changed since the last announcement).
 *
 * @example
 *   own.open("room", { userId: "bob", name: "Bob" }); // { set: [{ userId: "bob", name: "Bob", connections: 1 }], gone: [] }
 *   own.close("room", "bob");                         // { set: [], gone: ["bob"] }
 *   own.takeChanges();                                // { room: { set: [], gone: ["bob"] } }
 */
export class OwnUsers {
	/** channel → userId → user */
	private readonly channels = new Map<string, Map<string, PresenceUser>>();
	/** channel → userIds changed since the last takeChanges() */
	private readonly changed = new Map<string, Set<string>>();

	/** One more stream of `user` on `channel`; returns the change to apply (the user's new count). */
	open(channel: string, user: { userId: string; name: string }): UserChanges {
		let users = this.channels.get(channel);
		if (!users) {
			users = new Map();
			this.channels.set(channel, users);
		}
		const entry = users.get(user.userId) ?? { userId: user.userId, name: user.name, connections: 0 };
		entry.connections++;
		users.set(user.userId, entry);
		this.mark(channel, user.userId);
		return { set: [{ ...entry }], gone: [] };
	}

	/** One stream fewer; returns the change to apply (the user's new count, or gone). */
	close(channel: string, userId: string): UserChanges {
		const users = this.channels.get(channel);
		const entry = users?.get(userId);
		this.mark(channel, userId);
		if (!users || !entry) return { set: [], gone: [userId] };
		entry.connections--;
		if (entry.connections > 0) return { set: [{ ...entry }], gone: [] };
		users.delete(userId);
		if (users.size === 0) this.channels.delete(channel);
		return { set: [], gone: [userId] };
	}

	/** The changes since the last call, per channel (then forgotten). */
	takeChanges(): Record<string, UserChanges> {
		const out: Record<string, UserChanges> = {};
		for (const [channel, userIds] of this.changed) {
			const users = this.channels.get(channel);
			const changes: UserChanges = { set: [], gone: [] };
			for (const userId of userIds) {
				const entry = users?.get(userId);
				if (entry) changes.set.push({ ...entry });
				else changes.gone.push(userId);
			}
			out[channel] = changes;
		}
		this.changed.clear();
		return out;
	}

	/** Every own user of every channel, for a node that just joined. */
	all(): Record<string, UserChanges> {
		const out: Record<string, UserChanges> = {};
		for (const [channel, users] of this.channels) out[channel] = { set: [...users.values()].map(u => ({ ...u })), gone: [] };
		return out;
	}

	private mark(channel: string, userId: string): void {
		let ids = this.changed.get(channel);
		if (!ids) {
			ids = new Set();
			this.changed.set(channel, ids);
		}
		ids.add(userId);
	}
}
