/**
 * When streams must end because their token does: one structure for all of a node's streams, swept once
 * a second (no timer per stream). Items are kept in buckets by the second they expire in; a sweep takes
 * every bucket up to now. Adding and cancelling are O(1); a sweep costs the buckets that came due.
 *
 * @example
 *   const expiry = new ExpirySchedule<Subscriber>();
 *   const cancel = expiry.add(sub, identity.expiresAt);
 *   setInterval(() => { for (const sub of expiry.due(Date.now())) endStream(sub); }, 1000);
 */
export class ExpirySchedule<T> {
	private readonly buckets = new Map<number, Set<T>>();
	/** Every second up to this one has been swept. */
	private swept: number;
	private count = 0;

	constructor(now = Date.now()) {
		this.swept = Math.floor(now / 1000) - 1;
	}

	/** Schedules `item` to come due once `atMs` has passed; returns its cancel function. */
	add(item: T, atMs: number): () => void {
		// A time in a second already swept goes in the last swept second's bucket: the next sweep takes it.
		const second = Math.max(Math.ceil(atMs / 1000), this.swept);
		let bucket = this.buckets.get(second);
		if (!bucket) {
			bucket = new Set();
			this.buckets.set(second, bucket);
		}
		bucket.add(item);
		this.count++;
		const scheduled = bucket;
		return () => {
			if (scheduled.delete(item)) this.count--;
			if (scheduled.size === 0 && this.buckets.get(second) === scheduled) this.buckets.delete(second);
		};
	}

	/** Takes every item whose time has passed at `nowMs`, soonest first. */
	due(nowMs: number): T[] {
		const now = Math.floor(nowMs / 1000);
		const items: T[] = [];
		if (this.count === 0) {
			this.swept = Math.max(this.swept, now);
			return items;
		}
		// Walk the seconds since the last sweep (its own included: late additions) when few, else the buckets.
		const seconds =
			now - this.swept < this.buckets.size
				? Array.from({ length: Math.max(0, now - this.swept + 1) }, (_, i) => this.swept + i)
				: [...this.buckets.keys()].filter(s => s <= now).sort((a, b) => a - b);
		for (const second of seconds) {
			const bucket = this.buckets.get(second);
			if (!bucket) continue;
			this.buckets.delete(second);
			this.count -= bucket.size;
			items.push(...bucket);
			// Emptied, so a cancel of a taken item counts nothing twice.
			bucket.clear();
		}
		this.swept = Math.max(this.swept, now);
		return items;
	}

	/** Items scheduled. */
	get size(): number {
		return this.count;
	}
}
