/**
 * Prints one plain closing line, `N passed, M failed`, computed from jest's results: CI reads this
 * line, not jest's own summary. Suites that failed to run count as failures.
 */
class SummaryReporter {
	onRunComplete(_contexts, results) {
		const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
		const skipped = results.numPendingTests + results.numTodoTests;
		const line = `${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`;
		// Printed as the process ends, so it comes after jest's own summary and is the last line.
		process.once("exit", () => process.stdout.write(`\n${line}\n`));
	}
}

module.exports = SummaryReporter;
