/**
 * A pool of subscriber load processes (bench/load/subscribers.ts), each forked with its soft file limit raised
 * to the hard one: the bench spreads its streams over them, asks them all the same question and reads their
 * own CPU time (the load generator's CPU, reported next to the server's).
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { cpuSeconds, stopChild, withFileLimit } from "../support/processes";
import type { LoadReply, LoadReport, OpenRequest } from "./subscribers";

const LOAD = path.resolve(__dirname, "subscribers.js");
/** Longest the bench waits for one answer of a load process. */
const ANSWER_TIMEOUT_MS = 120_000;

class LoadProcess {
	readonly child: ChildProcess;
	private readonly replies: LoadReply[] = [];
	private wake: (() => void) | undefined;

	constructor() {
		const [command, args] = withFileLimit(process.execPath, [LOAD]);
		this.child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
		this.child.on("message", (reply: LoadReply) => {
			this.replies.push(reply);
			this.wake?.();
		});
	}

	/** The next reply of the given type (earlier replies of other types are kept). */
	async next<T extends LoadReply["type"]>(type: T): Promise<Extract<LoadReply, { type: T }>> {
		const deadline = Date.now() + ANSWER_TIMEOUT_MS;
		for (;;) {
			const error = this.replies.find(reply => reply.type === "error");
			if (error?.type === "error") throw new Error(`subscriber load: ${error.message}`);
			const index = this.replies.findIndex(reply => reply.type === type);
			if (index >= 0) return this.replies.splice(index, 1)[0] as Extract<LoadReply, { type: T }>;
			if (this.child.exitCode !== null) throw new Error(`subscriber load exited (${this.child.exitCode})`);
			if (Date.now() > deadline) throw new Error(`subscriber load did not answer ${type} in time`);
			await new Promise<void>(resolve => {
				this.wake = resolve;
				setTimeout(resolve, 500);
			});
		}
	}
}

/**
 * `count` load processes; `close()` ends them all.
 *
 * @example const pool = new LoadPool(4); await pool.open(i => ({ … })); … await pool.close();
 */
export class LoadPool {
	private readonly processes: LoadProcess[];

	constructor(count: number) {
		this.processes = Array.from({ length: count }, () => new LoadProcess());
	}

	get size(): number {
		return this.processes.length;
	}

	/** PIDs of the load processes (for their CPU time). */
	get pids(): number[] {
		return this.processes.flatMap(p => (p.child.pid === undefined ? [] : [p.child.pid]));
	}

	/** CPU seconds the load processes used so far. */
	cpuSeconds(): number {
		return cpuSeconds(this.pids);
	}

	/** Sends each process its open request (`request(i)`) at once; resolves when all streams answered 200. */
	async open(request: (index: number) => Omit<OpenRequest, "type">): Promise<number> {
		this.processes.forEach((p, i) => {
			p.child.send({ type: "open", ...request(i) });
		});
		const ready = await Promise.all(this.processes.map(p => p.next("ready")));
		return ready.reduce((sum, r) => sum + r.open, 0);
	}

	/** The latest `caughtUp` time over all processes (each sends one when all its streams have caught up). */
	async caughtUp(): Promise<number> {
		const times = await Promise.all(this.processes.map(p => p.next("caughtUp")));
		return Math.max(...times.map(t => t.at));
	}

	/** Every process's report. */
	async reports(): Promise<LoadReport[]> {
		this.processes.forEach(p => {
			p.child.send({ type: "report" });
		});
		return Promise.all(this.processes.map(p => p.next("report")));
	}

	/** Every process forgets what it received so far (a warm-up's events and latencies); their reports of it. */
	async reset(): Promise<LoadReport[]> {
		this.processes.forEach(p => {
			p.child.send({ type: "reset" });
		});
		return Promise.all(this.processes.map(p => p.next("report")));
	}

	/** Events received so far, over all processes. */
	async events(): Promise<number> {
		return (await this.reports()).reduce((sum, r) => sum + r.events, 0);
	}

	async close(): Promise<void> {
		await Promise.all(
			this.processes.map(async p => {
				if (p.child.exitCode !== null) return;
				const exited = new Promise(resolve => p.child.once("exit", resolve));
				p.child.send({ type: "close" });
				await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 5000))]);
				await stopChild(p.child, "SIGKILL");
			}),
		);
	}
}
