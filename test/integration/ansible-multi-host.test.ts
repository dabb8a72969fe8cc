/**
 * ansible/multi-host.yml: syntax-check and ansible-lint, then one real apply of its nats, redis and
 * redis_sentinel roles to 9 throw-away nodes on free loopback ports and of the chatcast role's env
 * file for edges and a core (test/ansible/multi-host.sh). The NATS nodes must form a cluster that
 * carries the edge user's messages across nodes over TLS and refuses anonymous, wrong-password and
 * out-of-namespace traffic; the Sentinels must name the master and the replicas replicate; a real
 * core and edge started from the rendered env files must serve a message end to end.
 */
import { expectEveryCheckPassed, runCheckScript } from "../support/check-script";

test("the multi-host playbook lints, its broker cluster and Sentinel group work, and Chatcast runs on them", async () => {
	const result = await runCheckScript("test/ansible/multi-host.sh", {
		CHATCAST_CONNECT_CHECK: "bash test/ansible/chatcast-connects.sh",
	});
	expectEveryCheckPassed(result);
}, 300_000);
