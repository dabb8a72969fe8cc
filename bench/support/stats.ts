/**
 * The value below which `p` (0–1) of `values` lie (nearest rank); NaN for no values.
 *
 * @example percentile([1, 2, 3, 4], 0.5) // 2
 */
export function percentile(values: number[], p: number): number {
	if (values.length === 0) return Number.NaN;
	const sorted = Float64Array.from(values).sort();
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Now, in milliseconds on the machine-wide monotonic clock (the same in every process of this host). */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
