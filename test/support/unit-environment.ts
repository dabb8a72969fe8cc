/**
 * Runs before each unit test file: REDIS_URL and MQTT_URL point at a port where nothing listens, so
 * code that reads its config from the environment (the services do) gets no working Redis or broker,
 * and a unit test that reaches a service fails in every run instead of passing where the service is up.
 */
const CLOSED = "127.0.0.1:1";
process.env.REDIS_URL = `redis://${CLOSED}`;
process.env.MQTT_URL = `mqtt://${CLOSED}`;
