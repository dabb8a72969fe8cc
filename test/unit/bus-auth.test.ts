/** Sealed transporter packets: only the cluster's secret makes a packet that verifies, for its own type, while fresh. */
import { DEFAULT_MAX_PACKET_AGE_MS, openPacket, sealPacket } from "../../src/bus-auth";

const SECRET = "a".repeat(64);
const payload = Buffer.from('{"ver":"5","sender":"edge-1","event":"chat.message"}');

describe("sealPacket / openPacket", () => {
	test("a sealed packet opens with the secret and gives back the payload", () => {
		const opened = openPacket([SECRET], "EVENT", sealPacket(SECRET, "EVENT", payload));
		expect(opened).toEqual({ payload });
	});

	test("another secret, a changed byte, another packet type or a bare payload are refused", () => {
		const sealed = sealPacket(SECRET, "EVENT", payload);
		expect(openPacket(["b".repeat(64)], "EVENT", sealed)).toEqual({ rejected: "bad-signature" });
		const tampered = Buffer.from(sealed);
		tampered[tampered.length - 2] ^= 1;
		expect(openPacket([SECRET], "EVENT", tampered)).toEqual({ rejected: "bad-signature" });
		expect(openPacket([SECRET], "REQ", sealed)).toEqual({ rejected: "bad-signature" });
		expect(openPacket([SECRET], "EVENT", payload)).toEqual({ rejected: "malformed" });
		expect(openPacket([SECRET], "EVENT", Buffer.alloc(0))).toEqual({ rejected: "malformed" });
	});

	test("during a rotation the previous secret still verifies; new packets are signed with the first", () => {
		const old = "o".repeat(64);
		expect(openPacket([SECRET, old], "INFO", sealPacket(old, "INFO", payload))).toEqual({ payload });
		expect(openPacket([old], "INFO", sealPacket(SECRET, "INFO", payload))).toEqual({ rejected: "bad-signature" });
	});

	test("a packet older (or newer) than the age limit is refused: a recording cannot be replayed later", () => {
		const now = 1_800_000_000_000;
		const sealed = sealPacket(SECRET, "EVENT", payload, now);
		expect(openPacket([SECRET], "EVENT", sealed, now + DEFAULT_MAX_PACKET_AGE_MS)).toEqual({ payload });
		expect(openPacket([SECRET], "EVENT", sealed, now + DEFAULT_MAX_PACKET_AGE_MS + 1)).toEqual({ rejected: "expired" });
		expect(openPacket([SECRET], "EVENT", sealed, now - DEFAULT_MAX_PACKET_AGE_MS - 1)).toEqual({ rejected: "expired" });
	});
});
