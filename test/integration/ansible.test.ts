/**
 * ansible/: syntax-check and ansible-lint, a --check run of the chatcast role, and a real apply of the
 * mosquitto and redis roles to throw-away instances on free ports (test/ansible/run.sh), where a real
 * Chatcast node must connect with the generated credentials while anonymous and password-less
 * clients are refused.
 */
import { expectEveryCheckPassed, runCheckScript } from "../support/check-script";

test("the playbooks lint, apply idempotently, and Chatcast connects with the credentials they set", async () => {
	const result = await runCheckScript("test/ansible/run.sh", {
		CHATCAST_CONNECT_CHECK: "bash test/ansible/chatcast-connects.sh",
	});
	expectEveryCheckPassed(result);
}, 360_000);
