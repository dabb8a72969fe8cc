import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * A Markdown table with padded, aligned columns: the first column left-aligned, the others right-aligned,
 * laid out as Biome formats it (so a results file written by a bench passes `npm run lint` as written).
 *
 * @example markdownTable(["", "a"], [["x", "1"]]) // "| x | a |" …
 */
export function markdownTable(head: string[], rows: string[][]): string {
	const width = (text: string): number => [...text].length;
	const widths = head.map((_, i) => Math.max(3, ...[head, ...rows].map(row => width(row[i] ?? ""))));
	const pad = (text: string, i: number): string => {
		const fill = " ".repeat(widths[i] - width(text));
		return i === 0 ? text + fill : fill + text;
	};
	const line = (cells: string[]): string => `| ${cells.map(pad).join(" | ")} |`;
	const rule = widths.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`));
	return [line(head), `| ${rule.join(" | ")} |`, ...rows.map(line)].join("\n");
}

/**
 * A bench's report: printed on stdout and written to bench/results/<name>.md; returns the file's path.
 *
 * @example const file = writeReport(["# bench", "", table], "brokers-2026-12-02");
 */
export function writeReport(lines: string[], name: string): string {
	const report = lines.join("\n").trimEnd();
	console.log(report);
	const results = path.resolve(__dirname, "../../../bench/results");
	mkdirSync(results, { recursive: true });
	const file = path.join(results, `${name}.md`);
	writeFileSync(file, `${report}\n`);
	return file;
}
