import path from "node:path";
import { missingServices } from "../support/global-setup";
import { ROOT } from "../support/node-process";

describe("npm test's prerequisite check", () => {
	test("names each service that does not answer, and how to start it", async () => {
		const problems = await missingServices("redis://127.0.0.1:1", "mqtt://127.0.0.1:1");
		expect(problems).toHaveLength(2);
		expect(problems[0]).toMatch(/^Redis does not answer at REDIS_URL=redis:\/\/127\.0\.0\.1:1[\s\S]*redis-server/);
		expect(problems[1]).toMatch(/^The MQTT broker does not answer at MQTT_URL=mqtt:\/\/127\.0\.0\.1:1[\s\S]*mosquitto/);
	});

	test("runs for the integration and browser projects only, so the unit project needs no service", () => {
		const config = require(path.join(ROOT, "jest.config.js")) as {
			globalSetup?: string;
			projects: Array<{ displayName: string; globalSetup?: string }>;
		};
		expect(config.globalSetup).toBeUndefined();
		expect(Object.fromEntries(config.projects.map(p => [p.displayName, p.globalSetup]))).toEqual({
			unit: undefined,
			integration: "<rootDir>/test/support/global-setup.ts",
			browser: "<rootDir>/test/support/global-setup.ts",
		});
	});
});
