import { newEpoch } from "../../src/history-store";

test("epochs are 12 URL-safe characters and never repeat, across refills of their random pool", () => {
	const epochs = Array.from({ length: 1000 }, () => newEpoch());
	expect(epochs.every(epoch => /^[A-Za-z0-9_-]{12}$/.test(epoch))).toBe(true);
	expect(new Set(epochs).size).toBe(epochs.length);
});
