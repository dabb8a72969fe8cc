import { StreamLimits } from "../../src/stream-limits";

describe("StreamLimits", () => {
	const lease = (result: ReturnType<StreamLimits["open"]>): (() => void) => {
		if ("refused" in result) throw new Error(`refused: ${result.refused}`);
		return result.release;
	};

	test("per client: streams and distinct channels are bounded; other clients are not affected", () => {
		const limits = new StreamLimits({ perEdge: 100, perClient: 3, channelsPerClient: 2 });
		lease(limits.open("a", "c1"));
		lease(limits.open("a", "c1"));
		expect(limits.open("a", "c3")).toEqual(expect.objectContaining({ release: expect.any(Function) }));
		expect(limits.open("a", "c1")).toEqual({ refused: "client" });
		expect(limits.open("b", "c1")).toEqual(expect.objectContaining({ release: expect.any(Function) }));
		const limitsTwo = new StreamLimits({ perEdge: 100, perClient: 10, channelsPerClient: 2 });
		lease(limitsTwo.open("a", "c1"));
		lease(limitsTwo.open("a", "c2"));
		expect(limitsTwo.open("a", "c3")).toEqual({ refused: "channels" });
		expect(limitsTwo.open("a", "c2")).not.toHaveProperty("refused");
	});

	test("per edge, and a release (even a repeated one) frees exactly one place", () => {
		const limits = new StreamLimits({ perEdge: 2, perClient: 10, channelsPerClient: 10 });
		const first = lease(limits.open("a", "c1"));
		lease(limits.open("b", "c2"));
		expect(limits.open("c", "c3")).toEqual({ refused: "edge" });
		first();
		first();
		expect(limits.streams).toBe(1);
		lease(limits.open("c", "c3"));
		expect(limits.open("d", "c4")).toEqual({ refused: "edge" });
	});
});
