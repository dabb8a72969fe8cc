/**
 * The operator REPL as its own process (`dist/src/bin/repl.js`), driven through its stdin and read from its stdout.
 *
 * @example
 *   const repl = startRepl({ MQTT_URL, CLUSTER_SECRET, NAMESPACE: namespace }, home);
 *   await repl.expectOutput(/Joined namespace/);
 *   repl.send(`tail ${channel}`);
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { ROOT, waitFor } from "./node-process";

export interface ReplProcess {
	send(line: string): void;
	/** Waits for `pattern` in the output after what earlier calls matched; later calls look further on. */
	expectOutput(pattern: string | RegExp): Promise<void>;
	output(): string;
	exitCode: Promise<number | null>;
	kill(): void;
}

/** Starts the REPL with only the environment an operator would set; HOME is a scratch folder for its history file. */
export function startRepl(env: Record<string, string>, home: string): ReplProcess {
	const child = spawn(process.execPath, [path.join(ROOT, "dist/src/bin/repl.js")], {
		cwd: ROOT,
		env: { PATH: process.env.PATH ?? "", HOME: home, ...env },
		stdio: ["pipe", "pipe", "pipe"],
	});
	let output = "";
	let matchedUpTo = 0;
	child.stdout.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	child.stderr.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	const exitCode = new Promise<number | null>(resolve => child.once("exit", code => resolve(code)));
	return {
		send: line => {
			child.stdin.write(`${line}\n`);
		},
		async expectOutput(pattern) {
			const regex = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
			const end = await waitFor(
				() => {
					const match = regex.exec(output.slice(matchedUpTo));
					return match && matchedUpTo + match.index + match[0].length;
				},
				10_000,
				String(pattern),
			).catch((err: Error) => {
				throw new Error(`${err.message}\n--- REPL output:\n${output}`);
			});
			matchedUpTo = end;
		},
		output: () => output,
		exitCode,
		kill: () => {
			if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
		},
	};
}
