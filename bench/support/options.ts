/** The command line of bench/compare.ts. */
import path from "node:path";

export const SCENARIOS = ["A", "D", "E", "F", "G", "H"];
export const PEERS = ["chatcast", "chatcast-redis", "chatcast-pm2", "nchan", "nchan-redis", "baseline"];

export const USAGE = `npm run bench -- [options]
  --scenarios A,D,E,F,G,H   scenarios to run (default: all)
  --peers ${PEERS.join(",")}
                            peers to run (default: all)
  --quick                   short runs, smaller E and F, 1 round, H with 1 and 4 edges (for development)
  --rounds N                rounds of A, D, F, G (default 3, quick 1); E and H run once
  --chatcast-dir PATH       Chatcast checkout whose build (dist/src/bin/start.js) is measured; repeat it to
                            compare builds side by side (default: this checkout)
  --e-streams N             idle streams of E (default 15000, quick 3000)
  --f-subscribers N         resuming subscribers of F (default 5000, quick 1000)
  --h-edges 1,2,4,8         edge counts of H`;

export interface Sizes {
	aSeconds: number;
	aRate: number;
	dSeconds: number;
	dLoadProcesses: number;
	eStreams: number;
	fSubscribers: number;
	gSeconds: number;
	hSeconds: number;
	hRate: number;
}

export interface Options {
	help: boolean;
	quick: boolean;
	scenarios: string[];
	peers: string[];
	rounds: number;
	chatcastDirs: string[];
	hEdges: number[];
	sizes: Sizes;
}

const list = (value: string): string[] =>
	value
		.split(",")
		.map(item => item.trim())
		.filter(Boolean);

function positive(name: string, value: string): number {
	const n = Number(value);
	if (!Number.isInteger(n) || n < 1) throw new Error(`${name} takes a positive integer, not ${value}`);
	return n;
}

/**
 * Parses the bench's arguments (after `npm run bench --`).
 *
 * @example parseOptions(["--quick", "--scenarios", "A,F"]).scenarios // ["A", "F"]
 */
export function parseOptions(argv: string[]): Options {
	const given = new Map<string, string[]>();
	let quick = false;
	let help = false;
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === "--quick") quick = true;
		else if (arg === "--help" || arg === "-h") help = true;
		else if (arg.startsWith("--")) {
			const [name, inline] = arg.split("=", 2);
			const value = inline ?? argv[++i];
			if (value === undefined) throw new Error(`${name} needs a value\n${USAGE}`);
			given.set(name, [...(given.get(name) ?? []), value]);
		} else throw new Error(`unexpected argument ${arg}\n${USAGE}`);
	}
	const known = ["--scenarios", "--peers", "--rounds", "--chatcast-dir", "--e-streams", "--f-subscribers", "--h-edges"];
	for (const name of given.keys()) if (!known.includes(name)) throw new Error(`unknown option ${name}\n${USAGE}`);
	const last = (name: string): string | undefined => given.get(name)?.at(-1);
	const scenarios = list(last("--scenarios") ?? SCENARIOS.join(",")).map(s => s.toUpperCase());
	for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}: one of ${SCENARIOS.join(", ")}`);
	const e = last("--e-streams");
	const f = last("--f-subscribers");
	const rounds = last("--rounds");
	const edges = last("--h-edges");
	return {
		help,
		quick,
		scenarios: SCENARIOS.filter(s => scenarios.includes(s)),
		peers: list(last("--peers") ?? PEERS.join(",")),
		rounds: rounds ? positive("--rounds", rounds) : quick ? 1 : 3,
		chatcastDirs: (given.get("--chatcast-dir") ?? [path.resolve(__dirname, "../../..")]).map(dir => path.resolve(dir)),
		hEdges: edges ? list(edges).map(n => positive("--h-edges", n)) : quick ? [1, 4] : [1, 2, 4, 8],
		sizes: {
			aSeconds: quick ? 4 : 10,
			aRate: 200,
			dSeconds: quick ? 3 : 5,
			dLoadProcesses: 4,
			eStreams: e ? positive("--e-streams", e) : quick ? 3000 : 15000,
			fSubscribers: f ? positive("--f-subscribers", f) : quick ? 1000 : 5000,
			gSeconds: quick ? 3 : 5,
			hSeconds: quick ? 3 : 5,
			hRate: 200,
		},
	};
}
