/**
 * Process helpers for the comparison bench: free ports, waiting for a port or a ready line, stopping a
 * child by its PID, and the CPU time of a process tree (from /proc, so nginx's workers count too).
 */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";

/** Clock ticks per second of /proc's utime and stime (`getconf CLK_TCK`, 100 on Linux). */
const CLK_TCK = 100;
/** Bytes per page of /proc's rss field. */
const PAGE_BYTES = 4096;

/**
 * A loopback port free right now.
 *
 * @example const port = await freePort();
 */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
		});
	});
}

/** Resolves once `port` accepts a connection; rejects after `timeoutMs` or when `child` exits first. */
export async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before listening on ${port}`);
		const open = await new Promise<boolean>(resolve => {
			const socket = net.connect(port, "127.0.0.1", () => {
				socket.destroy();
				resolve(true);
			});
			socket.once("error", () => resolve(false));
		});
		if (open) return;
		await new Promise(resolve => setTimeout(resolve, 50));
	}
	throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
}

/**
 * The JSON after `marker` on the child's stdout (`CHATCAST_READY {"port":…}`), once printed.
 *
 * @example const { port } = await readyLine<{ port: number }>(child, "CHATCAST_READY");
 */
export function readyLine<T>(child: ChildProcess, marker: string): Promise<T> {
	return new Promise((resolve, reject) => {
		let out = "";
		const pattern = new RegExp(`${marker} (\\{.*\\})`);
		const onData = (chunk: Buffer): void => {
			out += chunk.toString();
			const ready = pattern.exec(out);
			if (!ready) return;
			child.stdout?.off("data", onData);
			child.stdout?.resume();
			resolve(JSON.parse(ready[1]) as T);
		};
		child.stdout?.on("data", onData);
		child.once("exit", code => reject(new Error(`exited (${code}) before ${marker}: ${out.slice(-2000)}`)));
	});
}

/** Sends `signal` to the child (by its PID) and resolves when it has exited. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
	const pid = child.pid;
	return new Promise(resolve => {
		const force = setTimeout(() => process.kill(pid, "SIGKILL"), 10_000);
		child.once("exit", () => {
			clearTimeout(force);
			resolve();
		});
		process.kill(pid, signal);
	});
}

interface Stat {
	ppid: number;
	ticks: number;
	rssPages: number;
}

function readStat(pid: number): Stat | undefined {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		// Fields after the command name (which may hold spaces): state, ppid, …, utime (14th), stime (15th), rss (24th).
		const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]), rssPages: Number(rest[21]) };
	} catch {
		return undefined;
	}
}

/** The stats of the processes `roots` and all their descendants. */
function treeStats(roots: number[]): Stat[] {
	const stats = new Map<number, Stat>();
	for (const entry of readdirSync("/proc")) {
		const pid = Number(entry);
		if (!Number.isInteger(pid)) continue;
		const stat = readStat(pid);
		if (stat) stats.set(pid, stat);
	}
	const inTree = (pid: number): boolean => {
		for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
			if (roots.includes(p)) return true;
			p = stats.get(p)?.ppid ?? 0;
		}
		return false;
	};
	return [...stats].filter(([pid]) => inTree(pid)).map(([, stat]) => stat);
}

/**
 * CPU seconds (user + system) used so far by the processes `roots` and all their descendants.
 *
 * @example const before = cpuSeconds([nginx.pid]); … const used = cpuSeconds([nginx.pid]) - before;
 */
export function cpuSeconds(roots: number[]): number {
	return treeStats(roots).reduce((sum, stat) => sum + stat.ticks, 0) / CLK_TCK;
}

/**
 * Resident memory (bytes) of the processes `roots` and all their descendants, summed.
 *
 * @example const rss = rssBytes([nginx.pid]);
 */
export function rssBytes(roots: number[]): number {
	return treeStats(roots).reduce((sum, stat) => sum + stat.rssPages, 0) * PAGE_BYTES;
}

/**
 * `command args` run through `sh` that first raises the soft file limit to the hard one (15,000 streams need
 * more descriptors than a default soft limit allows); `exec` keeps the PID, the environment and an IPC channel.
 *
 * @example const [cmd, args] = withFileLimit(process.execPath, [script]); spawn(cmd, args, …);
 */
export function withFileLimit(command: string, args: string[]): [string, string[]] {
	return ["sh", ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', command, ...args]];
}
