import { missingServices } from "../support/global-setup";
import { MQTT_URL, REDIS_URL } from "../support/node-process";

describe("npm test's prerequisite check", () => {
	test("names each service that does not answer, and how to start it", async () => {
		const problems = await missingServices("redis://127.0.0.1:1", "mqtt://127.0.0.1:1");
		expect(problems).toHaveLength(2);
		expect(problems[0]).toMatch(/^Redis does not answer at REDIS_URL=redis:\/\/127\.0\.0\.1:1[\s\S]*redis-server/);
		expect(problems[1]).toMatch(/^The MQTT broker does not answer at MQTT_URL=mqtt:\/\/127\.0\.0\.1:1[\s\S]*mosquitto/);
	});

	test("is quiet when both answer", async () => {
		expect(await missingServices(REDIS_URL, MQTT_URL)).toEqual([]);
	});
});
