/**
 * Sealing of transporter packets: an HMAC-SHA256 over the cluster's secret, the packet type, a
 * timestamp and the payload (`src/sealed-mqtt-transporter.ts` applies it to every packet). Packets older
 * than `maxAgeMs` are refused too, so a recorded packet cannot be replayed later.
 *
 * Sealed packet: `version (1 byte) | sent at, ms since epoch (8 bytes, big-endian) | MAC (32 bytes) | payload`.
 *
 * The MAC binds the packet type (`cmd`: the first topic level after the namespace, which is what the
 * receiving transporter hands Moleculer), so a sealed event cannot be replayed as a request.
 *
 * @example
 *   const sealed = sealPacket(secret, "EVENT", payload);
 *   openPacket([secret], "EVENT", sealed); // → { payload }
 *   openPacket(["other"], "EVENT", sealed); // → { rejected: "bad-signature" }
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const VERSION = 1;
const HEADER_BYTES = 1 + 8 + 32;
/** Default age limit of a packet: generous for clock skew between hosts, short for a replay. */
export const DEFAULT_MAX_PACKET_AGE_MS = 30_000;

/** Seals a payload for the packet type `cmd` (e.g. "EVENT", "REQ"). */
export function sealPacket(secret: string, cmd: string, payload: Buffer, now = Date.now()): Buffer {
	const header = Buffer.alloc(HEADER_BYTES);
	header.writeUInt8(VERSION, 0);
	header.writeBigUInt64BE(BigInt(now), 1);
	mac(secret, cmd, header.subarray(0, 9), payload).copy(header, 9);
	return Buffer.concat([header, payload]);
}

/** Why a packet was refused; undefined when it is sound. */
export type RejectReason = "malformed" | "bad-signature" | "expired";

/**
 * Checks a sealed packet against any of the secrets (the current one, and the previous one during a
 * rotation); returns the payload, or the reason it was refused.
 */
export function openPacket(
	secrets: readonly string[],
	cmd: string,
	sealed: Buffer,
	now = Date.now(),
	maxAgeMs = DEFAULT_MAX_PACKET_AGE_MS,
): { payload: Buffer } | { rejected: RejectReason } {
	if (sealed.length < HEADER_BYTES || sealed.readUInt8(0) !== VERSION) return { rejected: "malformed" };
	const stamp = sealed.subarray(0, 9);
	const tag = sealed.subarray(9, HEADER_BYTES);
	const payload = sealed.subarray(HEADER_BYTES);
	if (!secrets.some(secret => timingSafeEqual(mac(secret, cmd, stamp, payload), tag))) return { rejected: "bad-signature" };
	const sentAt = Number(sealed.readBigUInt64BE(1));
	if (Math.abs(now - sentAt) > maxAgeMs) return { rejected: "expired" };
	return { payload };
}

function mac(secret: string, cmd: string, stamp: Buffer, payload: Buffer): Buffer {
	return createHmac("sha256", secret).update(cmd).update("\n").update(stamp).update(payload).digest();
}
