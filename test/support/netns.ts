/**
 * Hosts for multi-host tests: each a Linux network namespace of the test's own, with one veth link to a
 * bridge that lives in a namespace of its own too (the "switch"), so the test adds nothing to the
 * machine's own network: every interface it makes is inside a namespace it made, and deleting those
 * namespaces (by their unique name prefix) removes the links and the bridge with them. Needs root and
 * iproute2.
 *
 * A host runs processes (`ip netns exec`, which execs: the PID is the process's own), tracked so that
 * only they are killed; its link can be cut (down on the switch side: no packet in or out, no RST, like
 * a pulled cable) and restored.
 *
 * @example
 *   const net = await createNetwork({ subnet: "10.213.7", hosts: ["broker1", "edge1", "client"] });
 *   const edge = net.host("edge1"); // edge.address: "10.213.7.11"
 *   const child = edge.spawn("redis-server", ["--bind", edge.address]);
 *   await edge.cut(); …; await edge.restore();
 *   await net.destroy();
 */
import { type ChildProcess, execFile, execFileSync, spawn, type SpawnOptions } from "node:child_process";
import { promisify } from "node:util";
import type { ProcessHost } from "./node-process";

const run = promisify(execFile);

/** Namespaces of this module are named `cc<pid>-<host>`: leftovers of a run whose process is gone are removed. */
const PREFIX_PATTERN = /^cc(\d+)-/;

export interface NetnsHost extends ProcessHost {
	name: string;
	/** The namespace's name. */
	ns: string;
	/** Starts a process in the namespace, tracked (killed by `killAll`, `destroy`, or when the test process exits). */
	spawn(file: string, args: string[], options?: SpawnOptions): ChildProcess;
	/** SIGKILLs every process this host started, and waits for them. */
	killAll(): Promise<void>;
	/** Takes the link down at the switch: the host is off the network (its processes keep running). */
	cut(): Promise<void>;
	restore(): Promise<void>;
}

export interface Network {
	hosts: NetnsHost[];
	host(name: string): NetnsHost;
	/** Kills every tracked process and deletes every namespace of the network (the switch's too). */
	destroy(): Promise<void>;
}

export interface NetworkOptions {
	/** The first three octets of a /24 nobody uses here, e.g. "10.213.7"; hosts get .11, .12, … in order. */
	subnet: string;
	/** Host names: letters and digits, at most 8 characters (they name interfaces too). */
	hosts: string[];
}

/** Why this machine cannot make the network (not root, no iproute2), or undefined. */
export function netnsMissing(): string | undefined {
	if (process.getuid?.() !== 0) return "multi-host tests need root (they create network namespaces)";
	try {
		execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
		return undefined;
	} catch (err) {
		return `ip netns does not work here (iproute2): ${String(err)}`;
	}
}

export async function createNetwork(options: NetworkOptions): Promise<Network> {
	removeLeftovers();
	await assertSubnetUnused(options.subnet);
	const prefix = `cc${process.pid}-`;
	const switchNs = `${prefix}sw`;
	const created: string[] = [];
	const processes = new Set<ChildProcess>();
	const killEverything = (): void => {
		for (const child of processes) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
	};
	// A crash of the test process must not leave processes or namespaces behind.
	const onExit = (): void => {
		killEverything();
		for (const ns of created) deleteNamespaceSync(ns);
	};
	process.once("exit", onExit);
	const ip = (...args: string[]): Promise<unknown> => run("ip", args);
	try {
		await ip("netns", "add", switchNs);
		created.push(switchNs);
		await ip("-n", switchNs, "link", "add", "br0", "type", "bridge");
		await ip("-n", switchNs, "link", "set", "br0", "up");
		const hosts: NetnsHost[] = [];
		for (const [i, name] of options.hosts.entries()) {
			if (!/^[a-z0-9]{1,8}$/.test(name)) throw new Error(`host name ${JSON.stringify(name)}: 1-8 letters or digits`);
			const ns = `${prefix}${name}`;
			await ip("netns", "add", ns);
			created.push(ns);
			const address = `${options.subnet}.${11 + i}`;
			// Both ends are made inside their namespaces: nothing appears in the machine's own.
			await ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", name, "netns", switchNs);
			await ip("-n", switchNs, "link", "set", "dev", name, "master", "br0", "up");
			await ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
			await ip("-n", ns, "link", "set", "eth0", "up");
			await ip("-n", ns, "link", "set", "lo", "up");
			hosts.push(
				netnsHost(name, ns, address, processes, (state: "up" | "down") => ip("-n", switchNs, "link", "set", "dev", name, state)),
			);
		}
		return {
			hosts,
			host(name) {
				const found = hosts.find(h => h.name === name);
				if (!found) throw new Error(`no host ${name}`);
				return found;
			},
			async destroy() {
				await Promise.all(hosts.map(h => h.killAll()));
				for (const ns of created.reverse()) deleteNamespaceSync(ns);
				process.off("exit", onExit);
			},
		};
	} catch (err) {
		onExit();
		process.off("exit", onExit);
		throw err;
	}
}

function netnsHost(
	name: string,
	ns: string,
	address: string,
	processes: Set<ChildProcess>,
	setLink: (state: "up" | "down") => Promise<unknown>,
): NetnsHost {
	const own = new Set<ChildProcess>();
	return {
		name,
		ns,
		address,
		spawn(file, args, options = {}) {
			const child = spawn("ip", ["netns", "exec", ns, file, ...args], { stdio: "ignore", ...options });
			own.add(child);
			processes.add(child);
			child.once("exit", () => {
				own.delete(child);
				processes.delete(child);
			});
			return child;
		},
		async killAll() {
			const alive = [...own].filter(child => child.exitCode === null && child.signalCode === null);
			await Promise.all(
				alive.map(
					child =>
						new Promise<void>(resolve => {
							child.once("exit", () => resolve());
							child.kill("SIGKILL");
						}),
				),
			);
		},
		cut: async () => {
			await setLink("down");
		},
		restore: async () => {
			await setLink("up");
		},
	};
}

/** Deletes namespaces `cc<pid>-…` whose test process no longer runs (a crashed or killed earlier run), and what runs in them. */
export function removeLeftovers(): void {
	const names = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
		.split("\n")
		.map(line => line.split(" ")[0])
		.filter(Boolean);
	for (const ns of names) {
		const pid = PREFIX_PATTERN.exec(ns)?.[1];
		if (pid !== undefined && !processRuns(Number(pid))) deleteNamespaceSync(ns);
	}
}

function processRuns(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

/** Kills whatever still runs in the namespace (only the test's processes can be in it), then deletes it. */
function deleteNamespaceSync(ns: string): void {
	try {
		const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).split("\n").filter(Boolean);
		for (const pid of pids) process.kill(Number(pid), "SIGKILL");
		execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
	} catch {
		// already gone
	}
}

/** Refuses a subnet the machine already routes (it would be ambiguous to anyone reading the test's traffic). */
async function assertSubnetUnused(subnet: string): Promise<void> {
	const { stdout } = await run("ip", ["-4", "addr"]);
	const routes = await run("ip", ["-4", "route"]);
	if (`${stdout}\n${routes.stdout}`.includes(`${subnet}.`)) throw new Error(`subnet ${subnet}.0/24 is in use on this machine`);
}
