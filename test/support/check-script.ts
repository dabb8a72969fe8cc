/**
 * Runs one of the bash checks under test/ (they print `PASS: …` / `FAIL: …` lines and end with
 * `N passed, M failed`) and hands back its exit status and everything it printed.
 *
 * @example
 *   const result = await runCheckScript("test/ansible/run.sh", { CHATCAST_CONNECT_CHECK: "bash x.sh" });
 *   expectEveryCheckPassed(result);
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { ROOT } from "./node-process";

export interface CheckScriptResult {
	code: number | null;
	output: string;
}

export function runCheckScript(script: string, env: Record<string, string>): Promise<CheckScriptResult> {
	return new Promise(resolve => {
		const child = spawn("bash", [path.join(ROOT, script)], {
			cwd: ROOT,
			env: { ...process.env, ...env },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let output = "";
		const collect = (chunk: Buffer): void => {
			output += chunk.toString();
		};
		child.stdout.on("data", collect);
		child.stderr.on("data", collect);
		child.on("exit", code => resolve({ code, output }));
	});
}

/** No FAIL line, the connect hook passed, the summary says 0 failed, and the script exited 0. */
export function expectEveryCheckPassed(result: CheckScriptResult): void {
	expect(result.output.split("\n").filter(line => line.startsWith("FAIL"))).toEqual([]);
	expect(result.output).toContain("PASS: CHATCAST_CONNECT_CHECK");
	expect(result.output).toMatch(/^\d+ passed, 0 failed$/m);
	expect(result.code).toBe(0);
}
