/**
 * ansible/: syntax-check and ansible-lint, a --check run of the chatcast role, and a real apply of the
 * mosquitto and redis roles to throw-away instances on free ports (test/ansible/run.sh), where a real
 * Chatcast node must connect with the generated credentials while anonymous and password-less
 * clients are refused.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { ROOT } from "../support/node-process";

test("the playbooks lint, apply idempotently, and Chatcast connects with the credentials they set", async () => {
	const result = await new Promise<{ code: number | null; output: string }>(resolve => {
		const child = spawn("bash", [path.join(ROOT, "test/ansible/run.sh")], {
			cwd: ROOT,
			env: { ...process.env, CHATCAST_CONNECT_CHECK: "bash test/ansible/chatcast-connects.sh" },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let output = "";
		child.stdout.on("data", (chunk: Buffer) => {
			output += chunk.toString();
		});
		child.stderr.on("data", (chunk: Buffer) => {
			output += chunk.toString();
		});
		child.on("exit", code => resolve({ code, output }));
	});
	const failures = result.output.split("\n").filter(line => line.startsWith("FAIL"));
	expect(failures).toEqual([]);
	expect(result.output).toContain("PASS: CHATCAST_CONNECT_CHECK");
	expect(result.output).toMatch(/^\d+ passed, 0 failed$/m);
	expect(result.code).toBe(0);
}, 360_000);
