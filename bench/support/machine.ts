/** One line per fact about the machine a bench ran on (cores, memory, versions of the peers' parts). */
import { spawnSync } from "node:child_process";
import os from "node:os";

// `wrk -v` exits non-zero, so only a failure to start means "not installed".
const firstLine = (command: string, args: string[]): string => {
	const run = spawnSync(command, args, { encoding: "utf8" });
	return run.error ? "not installed" : `${run.stdout}${run.stderr}`.trim().split("\n")[0];
};

/**
 * The machine, as Markdown list items.
 *
 * @example console.log(machine().join("\n"));
 */
export function machine(): string[] {
	return [
		`- CPU: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "unknown"}; memory ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; ${os.type()} ${os.release()}`,
		`- Node ${process.version}; ${firstLine("nginx", ["-v"])}; nchan ${firstLine("dpkg-query", ["-W", "libnginx-mod-nchan"]).split("\t").pop()}`,
		`- ${firstLine("redis-server", ["--version"])}; ${firstLine("wrk", ["-v"])}; ${firstLine("/usr/sbin/mosquitto", ["-h"])}`,
		`- load average before the run: ${os
			.loadavg()
			.map(load => load.toFixed(2))
			.join(", ")}`,
	];
}
