/**
 * `npm test`: the unit, integration and browser projects (two files at a time), then the multi-host test
 * (test/cluster, on network namespaces) on its own, since its tests time failovers and must not share the
 * two cores with other suites. It needs root (network namespaces); without root, or with
 * CHATCAST_CLUSTER_TESTS=0, it is left out and the closing line says so. Arguments (`npm test -- test/unit/x.test.ts`) go to jest as they are, and only that runs.
 *
 * The closing line, `N passed, M failed`, counts both runs (CI reads it): each run's summary reporter adds
 * its counts to CHATCAST_SUMMARY_FILE.
 */
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { summaryLine } = require("./summary-reporter");

const JEST = path.join(__dirname, "../../node_modules/jest/bin/jest.js");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-test-"));
const summaryFile = path.join(dir, "summary.json");

/** Runs jest with `args`; its exit status. */
function jest(args, env = {}) {
	const run = spawnSync(process.execPath, [JEST, ...args], {
		stdio: "inherit",
		env: { ...process.env, ...env, CHATCAST_SUMMARY_FILE: summaryFile },
	});
	return run.status ?? 1;
}

function clusterLeftOut() {
	if (process.env.CHATCAST_CLUSTER_TESTS === "0") return "CHATCAST_CLUSTER_TESTS=0";
	if (process.getuid?.() !== 0) return "they need root for network namespaces: sudo npm run test:cluster";
	return undefined;
}

const args = process.argv.slice(2);
let status = jest(args);
let note = "";
if (args.length === 0) {
	const why = clusterLeftOut();
	if (why) note = ` (cluster tests not run: ${why})`;
	// The clustered-broker test (RabbitMQ) is left to `npm run test:cluster`: its cluster's formation still
	// fails now and then here (a node outside mqtt_node), which is not Chatcast's failover.
	else
		status =
			jest(["--selectProjects", "cluster", "--runInBand", "test/cluster/multi-host.test.ts"], { CHATCAST_CLUSTER_TESTS: "1" }) ||
			status;
}
let counts = { passed: 0, failed: 1 };
try {
	counts = JSON.parse(fs.readFileSync(summaryFile, "utf8"));
} catch {
	// No run reported: counted as a failure.
}
fs.rmSync(dir, { recursive: true, force: true });
process.stdout.write(`\n${summaryLine(counts)}${note}\n`);
process.exit(status === 0 && counts.failed === 0 ? 0 : 1);
