/**
 * ecosystem.config.js, the shipped pm2 topology: with Redis every edge runs every service (a publish is
 * stored by the edge that accepted it, no call crosses MQTT) and no core starts unless asked for;
 * without Redis the in-memory history stays in one core process, as it must.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface App {
	name: string;
	instances: number;
	env: { SERVICES: string };
}

const CONFIG = path.resolve(__dirname, "../../ecosystem.config.js");

/** The apps the file declares under `env` (and nothing else from this process's environment). */
function appsUnder(env: Record<string, string>): { name: string; instances: number; services: string }[] {
	const saved = { ...process.env };
	for (const name of ["REDIS_URL", "REDIS_SENTINELS", "REDIS_CLUSTER_NODES", "CORE_INSTANCES", "EDGE_INSTANCES"])
		delete process.env[name];
	Object.assign(process.env, { CHATCAST_ENV_FILE: path.join(__dirname, "no-such.env"), ...env });
	try {
		let apps: App[] = [];
		jest.isolateModules(() => {
			apps = (require(CONFIG) as { apps: App[] }).apps;
		});
		return apps.map(app => ({ name: app.name, instances: app.instances, services: app.env.SERVICES }));
	} finally {
		process.env = saved;
	}
}

test("with Redis: edges run every service, no core", () => {
	expect(appsUnder({ REDIS_URL: "redis://r:6379", EDGE_INSTANCES: "3" })).toEqual([
		{ name: "chatcast-edge", instances: 3, services: "api,broadcast,ingest,history" },
	]);
});

test("with Redis and CORE_INSTANCES: cores for callers on the bus, next to the full edges", () => {
	expect(appsUnder({ REDIS_URL: "redis://r:6379", EDGE_INSTANCES: "2", CORE_INSTANCES: "2" })).toEqual([
		{ name: "chatcast-edge", instances: 2, services: "api,broadcast,ingest,history" },
		{ name: "chatcast-core", instances: 2, services: "ingest,history" },
	]);
});

test.each(["REDIS_SENTINELS", "REDIS_CLUSTER_NODES"])("with Redis named by %s: edges run every service too", name => {
	expect(appsUnder({ [name]: "r1:26379,r2:26379", EDGE_INSTANCES: "2" })).toEqual([
		{ name: "chatcast-edge", instances: 2, services: "api,broadcast,ingest,history" },
	]);
});

test("without Redis: in-memory history lives in exactly one core", () => {
	expect(appsUnder({ EDGE_INSTANCES: "2", CORE_INSTANCES: "3" })).toEqual([
		{ name: "chatcast-edge", instances: 2, services: "api,broadcast" },
		{ name: "chatcast-core", instances: 1, services: "ingest,history" },
	]);
});

test("REDIS_URL only in the env file counts too (Node loads that file into every process)", () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatcast-eco-"));
	const envFile = path.join(dir, ".env");
	fs.writeFileSync(envFile, "PORT=3000\nREDIS_URL=redis://r:6379\n");
	try {
		expect(appsUnder({ CHATCAST_ENV_FILE: envFile, EDGE_INSTANCES: "1" })).toEqual([
			{ name: "chatcast-edge", instances: 1, services: "api,broadcast,ingest,history" },
		]);
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});
