/** @type {import('jest').Config} */
module.exports = {
	testEnvironment: "node",
	transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/test/tsconfig.json" }] },
	testMatch: ["<rootDir>/test/**/*.test.ts"],
	// Fails fast, naming the service, when Redis or the MQTT broker does not answer.
	globalSetup: "<rootDir>/test/support/global-setup.ts",
	// The plain "N passed, M failed" line CI reads.
	reporters: ["default", "<rootDir>/test/support/summary-reporter.js"],
	testTimeout: 30_000,
	// Integration suites start several node processes each; two at a time suits a 2-core machine.
	maxWorkers: 2,
};
