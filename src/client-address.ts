import { isIPv6 } from "node:net";

/**
 * The address a request comes from, for rate and connection limits. Behind a reverse proxy every
 * request's peer is the proxy, so with `TRUST_PROXY` listing the proxies' addresses the client is the
 * rightmost `X-Forwarded-For` entry that is not one of them (entries left of it are the client's word,
 * and a client can write anything there). Without `TRUST_PROXY` the header is ignored.
 *
 * @example
 *   clientAddress("127.0.0.1", "203.0.113.9, 10.0.0.2", ["127.0.0.1", "10.0.0.2"]); // "203.0.113.9"
 *   clientAddress("198.51.100.7", "203.0.113.9", []);                                // "198.51.100.7"
 */
export function clientAddress(
	peer: string | undefined,
	forwardedFor: string | string[] | undefined,
	trustedProxies: readonly string[],
): string {
	const direct = normalize(peer ?? "unknown");
	if (trustedProxies.length === 0 || !trustedProxies.includes(direct) || forwardedFor === undefined) return direct;
	const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
		.split(",")
		.map(hop => normalize(hop.trim()))
		.filter(hop => hop !== "");
	for (let i = hops.length - 1; i >= 0; i--) if (!trustedProxies.includes(hops[i])) return hops[i];
	return direct;
}

/**
 * The key a client's limits are counted under: an IPv4 address as it is, an IPv6 address by its /64
 * prefix. One IPv6 subscriber usually holds a whole /64 and may use any address in it, so per address
 * it could open streams and publish without bound. An address with an IPv4 part (NAT64, `64:ff9b::1.2.3.4`)
 * stays whole: its prefix is shared by every client of the translator.
 *
 * @example
 *   limitKey("203.0.113.9");        // "203.0.113.9"
 *   limitKey("2001:db8:a:b::1");    // "2001:db8:a:b::/64"
 *   limitKey("2001:db8:a:b:1:2:3:4"); // "2001:db8:a:b::/64"
 */
export function limitKey(address: string): string {
	if (!isIPv6(address) || address.includes(".")) return address;
	const [head, tail] = address.split("%")[0].split("::");
	const left = head ? head.split(":") : [];
	const right = tail ? tail.split(":") : [];
	const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
	return `${groups
		.slice(0, 4)
		.map(group => Number.parseInt(group, 16).toString(16))
		.join(":")}::/64`;
}

/** IPv4 peers of a dual-stack socket arrive as `::ffff:a.b.c.d`: one client, one spelling. */
function normalize(address: string): string {
	return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
