/**
 * A bad environment is refused before anything starts: every launcher prints each problem on one screen,
 * without a stack trace, and exits with status 2 (pm2's ecosystem does not restart on it).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ROOT } from "../support/node-process";

function run(script: string, env: Record<string, string>): { status: number | null; output: string } {
	const result = spawnSync(process.execPath, [path.join(ROOT, "dist/src/bin", script)], {
		cwd: ROOT,
		env: { PATH: process.env.PATH ?? "", ...env },
		encoding: "utf8",
		timeout: 20_000,
	});
	return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe.each(["start.js", "repl.js"])("%s with a bad environment", script => {
	test("names every bad variable, shows no stack trace and exits 2", () => {
		const { status, output } = run(script, { PORT: "abc", HISTORY_LIMIT: "0", MQTT_URL: "mqtt://127.0.0.1:1" });
		expect(status).toBe(2);
		expect(output).toContain("Invalid configuration");
		expect(output).toContain("PORT must be an integer");
		expect(output).toContain("HISTORY_LIMIT must be an integer");
		expect(output).not.toMatch(/\n\s+at /);
	});
});

test("pm2 does not restart a process that its configuration refused", () => {
	const ecosystem = require(path.join(ROOT, "ecosystem.config.js")) as { apps: Array<{ stop_exit_codes?: number[] }> };
	for (const app of ecosystem.apps) expect(app.stop_exit_codes).toContain(2);
});
