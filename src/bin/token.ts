/**
 * Prints a development token for the configured AUTH_JWT_SECRET (from the environment, or .env like pm2).
 *
 * @example
 *   npm run -s token -- --sub ada --name Ada --channels c3743620-cc30-11e6-9d9d-cec0c932ce01 --ttl 1h
 */
import { CONFIG_ERROR_EXIT_CODE, loadConfigOrExit } from "../config";
import { mintToken, parseTokenArgs } from "../auth/dev-token";

async function main(): Promise<void> {
	const config = loadConfigOrExit(process.env);
	const secret = config.auth?.secret;
	if (secret === undefined) {
		console.error(
			config.auth
				? "AUTH_JWKS_URL is set: tokens come from the issuer that holds its private keys, not from here."
				: "AUTH_JWT_SECRET is not set (in the environment or .env): there is no key to sign with.",
		);
		process.exit(CONFIG_ERROR_EXIT_CODE);
	}
	let request: ReturnType<typeof parseTokenArgs>;
	try {
		request = parseTokenArgs(process.argv.slice(2));
	} catch (err) {
		console.error((err as Error).message);
		process.exit(CONFIG_ERROR_EXIT_CODE);
	}
	console.log(await mintToken(request, { secret, issuer: config.auth?.issuer, audience: config.auth?.audience }));
}

void main();
