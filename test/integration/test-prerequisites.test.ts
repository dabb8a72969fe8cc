import { missingServices } from "../support/global-setup";
import { MQTT_URL, REDIS_URL } from "../support/node-process";

test("npm test's prerequisite check is quiet when Redis and the MQTT broker answer", async () => {
	expect(await missingServices(REDIS_URL, MQTT_URL)).toEqual([]);
});
