/**
 * The operator REPL: joins a running Chatcast cluster as one more node (it runs no Chatcast service)
 * and adds Chatcast's commands (src/repl-commands.ts) to Moleculer's REPL.
 *
 * @example
 *   MQTT_URL=mqtt://chatcast:<password>@127.0.0.1:1884 CLUSTER_SECRET=<secret> NAMESPACE=chatcast npm run repl
 *   chatcast $ history c3743620-cc30-11e6-9d9d-cec0c932ce01 5
 */
import type { REPLServer } from "node:repl";
import { ServiceBroker } from "moleculer";
import startRepl from "moleculer-repl";
import { clusterSecrets, createBrokerOptions, createChannelBus, randomNodeID } from "../../moleculer.config";
import { loadConfigOrExit } from "../config";
import { ChannelTail, formatError, operatorCommands, type OperatorIO } from "../repl-commands";

/** The services the commands call; before its prompt the REPL waits up to DISCOVERY_TIMEOUT_MS to see them. */
const COMMAND_SERVICES = ["ingest", "history", "broadcast"];
const DISCOVERY_TIMEOUT_MS = 5000;
/** Moleculer retries an unreachable transporter forever; an operator is better told that MQTT_URL is wrong. */
const JOIN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
	// The console is for commands: only warnings and errors are logged unless LOG_LEVEL says otherwise.
	const config = loadConfigOrExit({ LOG_LEVEL: "warn", ...process.env });
	if (!config.mqttUrls) {
		console.error(
			"MQTT_URL must be set to the MQTT broker of the cluster to join, e.g.\n" +
				"  MQTT_URL=mqtt://chatcast:<password>@127.0.0.1:1884 CLUSTER_SECRET=<secret> NAMESPACE=chatcast npm run repl\n" +
				"`npm start` prints its embedded broker's URL; production nodes use Mosquitto's.",
		);
		process.exit(2);
	}

	// Commands run only from the REPL's prompt, so only after `server` is set.
	let server!: REPLServer;
	const bus = { urls: config.mqttUrls, secrets: clusterSecrets(config) };
	// `tail` follows a channel on the channel bus (its topic), beside the Moleculer node.
	// Its follow marks the channel in history (`history.interest`), so the channel's messages are published to it.
	const channelBus = createChannelBus(config, bus, { warn: line => console.warn(line) }, (channels, listener) =>
		broker.call("history.interest", { channels, listener }),
	);
	const tail = new ChannelTail(line => console.log(line), channelBus);
	const io: OperatorIO = {
		call: (action, params) => broker.call(action, params),
		ask: question => askLine(server, question),
		untilStopped: async () => {
			await askLine(server, "");
		},
		tail,
	};
	// moleculer-repl hands a custom command the `params` its `parse` hook sets: here the words after the name.
	const commands = operatorCommands(io);
	const customCommands = commands.map(command => ({
		command: command.syntax,
		description: command.description,
		alias: null,
		options: [],
		allowUnknownOptions: true,
		parse(parsed: { args: string[]; params?: string[] }) {
			parsed.params = parsed.args;
		},
		async action(_broker: ServiceBroker, words: string[]) {
			console.log(await command.run(words).catch(formatError));
		},
	}));

	const broker = new ServiceBroker({
		...createBrokerOptions(config, bus),
		nodeID: config.nodeID ?? randomNodeID("repl"),
		// No embedded broker to stop here, so Moleculer's own SIGINT/SIGTERM handling (stop, exit) fits.
		skipProcessEventRegistration: false,
	});
	// moleculer-repl stops the broker on `exit` and again when the input ends (a piped script's `exit`
	// is followed by its end at once); a second, overlapping stop fails inside Moleculer, so stop once.
	const stopBroker = broker.stop.bind(broker);
	let stopping: Promise<void> | undefined;
	broker.stop = () => (stopping ??= stopBroker().finally(() => channelBus.stop()));

	const joinTimer = setTimeout(() => {
		console.error(
			`Could not reach the MQTT broker at MQTT_URL in ${JOIN_TIMEOUT_MS / 1000} s (see the errors above): is it the cluster's broker?`,
		);
		process.exit(1);
	}, JOIN_TIMEOUT_MS);
	await channelBus.start();
	await broker.start();
	clearTimeout(joinTimer);

	await broker.waitForServices(COMMAND_SERVICES, DISCOVERY_TIMEOUT_MS).catch(() => undefined);
	const discovered = new Set(broker.registry.getServiceList({ onlyAvailable: true }).map(service => service.name));
	const missing = COMMAND_SERVICES.filter(name => !discovered.has(name));
	if (missing.length > 0) {
		console.log(
			`No node of namespace "${config.namespace}" runs ${missing.join(", ")} yet: commands that need ${missing.length > 1 ? "them" : "it"} fail until one joins.`,
		);
	}
	console.log(
		`Joined namespace "${config.namespace}" as ${broker.nodeID}. Chatcast commands: ${commands.map(c => c.syntax.split(" ")[0]).join(", ")}; "help" lists all.`,
	);
	// What broker.repl() does, typed: moleculer-repl returns its node:repl server.
	server = startRepl(broker, { delimiter: "chatcast $", customCommands });
}

/**
 * Resolves with the next line typed, which is then not run as a command; Ctrl-C resolves with "" instead
 * of its usual REPL meaning (clear the line, or exit when pressed twice).
 */
function askLine(server: REPLServer, question: string): Promise<string> {
	return new Promise(resolve => {
		const replSigintListeners = server.listeners("SIGINT") as Array<() => void>;
		const cancel = new AbortController();
		const answer = (line: string): void => {
			cancel.abort();
			server.removeAllListeners("SIGINT");
			for (const listener of replSigintListeners) server.on("SIGINT", listener);
			resolve(line);
		};
		server.removeAllListeners("SIGINT");
		server.once("SIGINT", () => answer(""));
		server.question(question, { signal: cancel.signal }, answer);
	});
}

main().catch(err => {
	console.error("The Chatcast REPL failed to start:", formatError(err));
	process.exit(1);
});
