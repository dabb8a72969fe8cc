import { clientAddress } from "../../src/client-address";

describe("clientAddress", () => {
	test("without trusted proxies the peer is the client, whatever X-Forwarded-For says", () => {
		expect(clientAddress("198.51.100.7", "203.0.113.9", [])).toBe("198.51.100.7");
		expect(clientAddress("::ffff:127.0.0.2", undefined, [])).toBe("127.0.0.2");
	});

	test("behind trusted proxies the client is the rightmost untrusted hop", () => {
		const proxies = ["127.0.0.1", "10.0.0.2"];
		expect(clientAddress("127.0.0.1", "203.0.113.9, 10.0.0.2", proxies)).toBe("203.0.113.9");
		// What the client wrote itself (left of the hop the proxy added) is not believed.
		expect(clientAddress("127.0.0.1", "1.2.3.4, 203.0.113.9", proxies)).toBe("203.0.113.9");
		expect(clientAddress("127.0.0.1", ["1.2.3.4", "203.0.113.9"], proxies)).toBe("203.0.113.9");
	});

	test("a request that does not come through a trusted proxy keeps its peer address", () => {
		expect(clientAddress("198.51.100.7", "203.0.113.9", ["127.0.0.1"])).toBe("198.51.100.7");
		expect(clientAddress("127.0.0.1", " , ", ["127.0.0.1"])).toBe("127.0.0.1");
	});
});
