/**
 * Four projects: `npx jest` runs unit, integration and browser (the cluster project exists only with
 * CHATCAST_CLUSTER_TESTS=1); `npx jest --selectProjects unit` runs one.
 *
 *   unit         test/unit: plain modules and in-process brokers; no Redis, no MQTT, no child processes.
 *   integration  test/integration: real Redis, Mosquitto and node processes.
 *   browser      test/browser: a real Chromium against real node processes (skipped without one).
 *   cluster      test/cluster (with CHATCAST_CLUSTER_TESTS=1; run one file at a time, as root): failover of a
 *                RabbitMQ cluster under the core layout (docs/adr-clustered-broker.md), and the multi-host test
 *                on network namespaces. `npm run test:cluster` runs both; `npm test` (test/support/run-tests.js)
 *                runs the multi-host test alone after the other projects.
 *
 * Jest runs a project's globalSetup only when a test of that project is selected, so the service check
 * below runs for integration and browser (once, as both name the same file) and never for unit alone.
 */
const typescript = { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/test/tsconfig.json" }] };
// Fails fast, naming the service, when Redis or the MQTT broker does not answer.
const servicesCheck = "<rootDir>/test/support/global-setup.ts";

/** @type {import('jest').Config} */
module.exports = {
	projects: [
		{
			displayName: "unit",
			testEnvironment: "node",
			transform: typescript,
			testMatch: ["<rootDir>/test/unit/**/*.test.ts"],
			// Points REDIS_URL and MQTT_URL at a closed port, so a unit test that reaches a service fails in every run.
			setupFiles: ["<rootDir>/test/support/unit-environment.ts"],
		},
		{
			displayName: "integration",
			testEnvironment: "node",
			transform: typescript,
			testMatch: ["<rootDir>/test/integration/**/*.test.ts"],
			globalSetup: servicesCheck,
		},
		{
			displayName: "browser",
			testEnvironment: "node",
			transform: typescript,
			testMatch: ["<rootDir>/test/browser/**/*.test.ts"],
			globalSetup: servicesCheck,
		},
		...(process.env.CHATCAST_CLUSTER_TESTS === "1"
			? [
					{
						displayName: "cluster",
						testEnvironment: "node",
						transform: typescript,
						testMatch: ["<rootDir>/test/cluster/**/*.test.ts"],
						globalSetup: servicesCheck,
					},
				]
			: []),
	],
	// The plain "N passed, M failed" line CI reads.
	reporters: ["default", "<rootDir>/test/support/summary-reporter.js"],
	testTimeout: 30_000,
	// Integration suites start several node processes each; two at a time suits a 2-core machine.
	maxWorkers: 2,
};
