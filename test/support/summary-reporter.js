/**
 * The plain closing line, `N passed, M failed`, computed from jest's results: CI reads this line, not
 * jest's own summary. Suites that failed to run count as failures. Under `npm test` (test/support/run-tests.js,
 * CHATCAST_SUMMARY_FILE set) the counts are added to that file instead, and the runner prints the line
 * over all its runs.
 */
const fs = require("node:fs");

class SummaryReporter {
	onRunComplete(_contexts, results) {
		const counts = {
			passed: results.numPassedTests,
			failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
			skipped: results.numPendingTests + results.numTodoTests,
		};
		const file = process.env.CHATCAST_SUMMARY_FILE;
		if (file) return addTo(file, counts);
		const line = summaryLine(counts);
		// Printed as the process ends, so it comes after jest's own summary and is the last line.
		process.once("exit", () => process.stdout.write(`\n${line}\n`));
	}
}

/** `N passed, M failed[, K skipped]`: the line CI reads. */
function summaryLine({ passed, failed, skipped }) {
	return `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`;
}

function addTo(file, counts) {
	let sum = { passed: 0, failed: 0, skipped: 0 };
	if (fs.existsSync(file)) sum = JSON.parse(fs.readFileSync(file, "utf8"));
	for (const key of Object.keys(sum)) sum[key] += counts[key];
	fs.writeFileSync(file, JSON.stringify(sum));
}

module.exports = SummaryReporter;
module.exports.summaryLine = summaryLine;
