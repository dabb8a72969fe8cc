/**
 * The README's error table and the catalogue in src/errors.ts say the same: every type with its status,
 * in both directions.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CATALOGUE } from "../../src/errors";

/** `type → status` from the table under "### Errors": rows `| status | type[, type…] | when |`. */
function documentedTypes(readme: string): Map<string, number> {
	const section = readme.split(/^### Errors$/m)[1]?.split(/^#{2,3} /m)[0];
	if (section === undefined) throw new Error('README.md has no "### Errors" section');
	const documented = new Map<string, number>();
	for (const line of section.split("\n")) {
		const cells = line.split("|").map(cell => cell.trim());
		if (!/^\d{3}$/.test(cells[1] ?? "")) continue; // header, separator, prose
		for (const [, type] of (cells[2] ?? "").matchAll(/`([A-Z_]+)`/g)) {
			if (documented.has(type)) throw new Error(`${type} is listed twice in the README`);
			documented.set(type, Number(cells[1]));
		}
	}
	return documented;
}

const readme = readFileSync(join(__dirname, "../../README.md"), "utf8");
const documented = documentedTypes(readme);
const catalogue = new Map(Object.entries(ERROR_CATALOGUE).map(([type, entry]) => [type, entry.status as number]));

test("the README's table is found and lists types", () => {
	expect(documented.size).toBeGreaterThan(10);
});

test.each([...catalogue])("catalogue type %s is documented with status %i", (type, status) => {
	expect(documented.get(type)).toBe(status);
});

test.each([...documented])("documented type %s exists in the catalogue with status %i", (type, status) => {
	expect(catalogue.get(type)).toBe(status);
});
