/**
 * The presence tables on their own: users per channel per node with connection counts, joined/left
 * computed over all nodes, node removal, the capped list and the chunking of bus packets.
 */
import { randomUUID } from "node:crypto";
import Validator from "fastest-validator";
import { PRESENCE_EVENT_PARAMS, PRESENCE_USERS_MAX } from "../../src/contract";
import { chunkUserChanges, OwnUsers, PresenceUsers, type PresenceUser } from "../../src/presence";

const user = (userId: string, connections = 1): PresenceUser => ({ userId, name: userId.toUpperCase(), connections });

describe("PresenceUsers", () => {
	it("joins a user on the first connection and sums connections over edges", () => {
		const users = new PresenceUsers();
		expect(users.apply("a", "room", { set: [user("ada"), user("bob")], gone: [] }).joined).toEqual([
			{ userId: "ada", name: "ADA" },
			{ userId: "bob", name: "BOB" },
		]);
		expect(users.apply("b", "room", { set: [user("bob", 2)], gone: [] })).toEqual({ joined: [], left: [] });
		expect(users.list("room")).toEqual({ users: [user("ada"), user("bob", 3)], truncated: false });
	});

	it("keeps a user present while another edge still has a connection", () => {
		const users = new PresenceUsers();
		users.apply("a", "room", { set: [user("bob")], gone: [] });
		users.apply("b", "room", { set: [user("bob")], gone: [] });
		expect(users.apply("a", "room", { set: [], gone: ["bob"] })).toEqual({ joined: [], left: [] });
		expect(users.apply("b", "room", { set: [], gone: ["bob"] })).toEqual({ joined: [], left: [{ userId: "bob" }] });
		expect(users.list("room").users).toEqual([]);
	});

	it("ignores a gone user the node never had", () => {
		const users = new PresenceUsers();
		users.apply("a", "room", { set: [user("bob")], gone: [] });
		expect(users.apply("b", "room", { set: [], gone: ["bob"] })).toEqual({ joined: [], left: [] });
	});

	it("on node removal, leaves only users with no connection elsewhere", () => {
		const users = new PresenceUsers();
		users.apply("a", "room", { set: [user("ada"), user("bob")], gone: [] });
		users.apply("b", "room", { set: [user("bob")], gone: [] });
		users.apply("b", "other", { set: [user("cy")], gone: [] });
		expect(users.removeNode("b")).toEqual({ room: { joined: [], left: [] }, other: { joined: [], left: [{ userId: "cy" }] } });
		expect(users.removeNode("a")).toEqual({ room: { joined: [], left: [{ userId: "ada" }, { userId: "bob" }] } });
	});

	it("caps the list and says so", () => {
		const users = new PresenceUsers();
		users.apply("a", "room", { set: [user("u1"), user("u2"), user("u3")], gone: [] });
		expect(users.list("room", 2)).toEqual({ users: [user("u1"), user("u2")], truncated: true });
		expect(users.list("room", 3).truncated).toBe(false);
	});

	it("snapshots a node's own users only", () => {
		const users = new PresenceUsers();
		users.apply("a", "room", { set: [user("ada")], gone: [] });
		users.apply("b", "room", { set: [user("bob", 2)], gone: [] });
		expect(users.snapshot("b")).toEqual({ room: [user("bob", 2)] });
	});
});

describe("chunkUserChanges", () => {
	it("splits a channel into packets of at most max entries", () => {
		const set = Array.from({ length: 250 }, (_, i) => user(`u${i}`));
		const packets = chunkUserChanges({ room: { set, gone: ["x"] }, small: { set: [user("s")], gone: [] } }, 100);
		expect(packets.map(p => (p.room?.set.length ?? 0) + (p.room?.gone.length ?? 0))).toEqual([100, 100, 51]);
		expect(packets[2]?.room?.gone).toEqual(["x"]);
		expect(packets[0]?.small?.set).toEqual([user("s")]);
		expect(packets.flatMap(p => p.room?.set ?? [])).toEqual(set);
	});
});

describe("PRESENCE_EVENT_PARAMS users", () => {
	const check = new Validator().compile({ ...PRESENCE_EVENT_PARAMS });
	const channel = randomUUID();
	const event = (users: unknown) => ({ nodeID: "edge-a", counts: { [channel]: 1 }, users });

	it("accepts bounded per-channel changes, and an event without users", () => {
		expect(check(event({ [channel]: { set: [user("ada")], gone: ["bob"] } }))).toBe(true);
		expect(check({ nodeID: "edge-a", counts: {} })).toBe(true);
	});

	it("rejects oversize arrays, long strings, bad counts and non-channel keys", () => {
		const many = Array.from({ length: PRESENCE_USERS_MAX + 1 }, (_, i) => `u${i}`);
		expect(check(event({ [channel]: { set: [], gone: many } }))).not.toBe(true);
		expect(check(event({ [channel]: { set: many.map(id => user(id)), gone: [] } }))).not.toBe(true);
		expect(check(event({ [channel]: { set: [user("x".repeat(257))], gone: [] } }))).not.toBe(true);
		expect(check(event({ [channel]: { set: [user("ada", 0)], gone: [] } }))).not.toBe(true);
		expect(check(event({ "not-a-channel": { set: [], gone: [] } }))).not.toBe(true);
	});
});

describe("OwnUsers", () => {
	test("counts a node's streams per user and announces only what changed since the last time", () => {
		const own = new OwnUsers();
		expect(own.open("room", { userId: "bob", name: "Bob" })).toEqual({
			set: [{ userId: "bob", name: "Bob", connections: 1 }],
			gone: [],
		});
		expect(own.open("room", { userId: "bob", name: "Bob" }).set[0]?.connections).toBe(2);
		own.open("hall", { userId: "ada", name: "Ada" });
		expect(own.takeChanges()).toEqual({
			room: { set: [{ userId: "bob", name: "Bob", connections: 2 }], gone: [] },
			hall: { set: [{ userId: "ada", name: "Ada", connections: 1 }], gone: [] },
		});
		expect(own.takeChanges()).toEqual({});
		expect(own.close("room", "bob")).toEqual({ set: [{ userId: "bob", name: "Bob", connections: 1 }], gone: [] });
		expect(own.close("room", "bob")).toEqual({ set: [], gone: ["bob"] });
		expect(own.takeChanges()).toEqual({ room: { set: [], gone: ["bob"] } });
		expect(own.all()).toEqual({ hall: { set: [{ userId: "ada", name: "Ada", connections: 1 }], gone: [] } });
	});
});
