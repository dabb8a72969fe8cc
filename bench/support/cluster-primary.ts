/**
 * What pm2's cluster mode does for an app, without pm2's daemon: a `node:cluster` primary that forks
 * `instances` workers of `script` (each with `NODE_APP_INSTANCE` = its slot, all sharing `PORT`), waits
 * until each has sent "ready" (pm2's wait_ready) and prints `CLUSTER_READY {"port":…}`. SIGTERM stops the
 * workers (each gets SIGTERM, as on `pm2 stop`) and then exits.
 *
 *   PORT=3000 node dist/bench/support/cluster-primary.js dist/src/bin/start.js 2
 */
import cluster from "node:cluster";

const [script, instances] = process.argv.slice(2);
const count = Number(instances);
if (!script || !Number.isInteger(count) || count < 1) {
	console.error("usage: cluster-primary.js <script> <instances>");
	process.exit(2);
}
cluster.setupPrimary({ exec: script, args: [] });
let ready = 0;
let stopping = false;
for (let slot = 0; slot < count; slot++) {
	const worker = cluster.fork({ NODE_APP_INSTANCE: String(slot) });
	worker.on("message", (message: unknown) => {
		if (message !== "ready" || ++ready < count) return;
		console.log(`CLUSTER_READY ${JSON.stringify({ port: Number(process.env.PORT), instances: count })}`);
	});
	worker.on("exit", code => {
		if (!stopping) console.error(`cluster-primary: worker ${slot} exited (${code})`);
	});
}
process.on("SIGTERM", () => {
	stopping = true;
	for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
	const check = setInterval(() => {
		if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
	}, 50);
	check.unref();
	setTimeout(() => process.exit(0), 10_000);
});
