import { loadConfig } from "../../src/config";

/**
 * What loadConfig refuses in `env`, as its error message ("" when it accepts it).
 *
 * @example expect(configProblems({ REDIS_TLS: "yes" })).toContain("REDIS_TLS must be true or false");
 */
export function configProblems(env: Record<string, string>): string {
	try {
		loadConfig(env);
		return "";
	} catch (err) {
		return (err as Error).message;
	}
}
