/**
 * The contract between Chatcast's nodes: event names, the group that receives them, their payloads
 * (and the stored message the channel bus carries), and the limits that more than one module must
 * agree on. Defined once; services and `src/` import from here, never from each other.
 *
 * @example
 *   await broker.broadcast(PRESENCE_EVENT, { nodeID, counts }, { groups: [BROADCAST_GROUP] });
 *   events: { [PRESENCE_EVENT]: { group: BROADCAST_GROUP, params: PRESENCE_EVENT_PARAMS, handler(ctx) { … } } }
 */
/**
 * Who holds a stream when auth is on: the token's `sub` and its `name` (else `sub`). Streams without a
 * token have none.
 */
export interface StreamUser {
	userId: string;
	name: string;
}

/** A broadcast node's subscriber counts for some channels (0 = none left), sent to the other broadcast nodes. */
export const PRESENCE_EVENT = "broadcast.presence";
export interface PresenceEvent {
	nodeID: string;
	counts: Record<string, number>;
	/** The node's own user changes per channel (src/presence.ts `UserChanges`), chunked by PRESENCE_USERS_MAX. */
	users?: Record<string, { set: Array<{ userId: string; name: string; connections: number }>; gone: string[] }>;
}

/** Most user entries (set + gone) one presence packet carries per channel; more go out in further packets. */
export const PRESENCE_USERS_MAX = 100;

/**
 * What a node accepts as a stored message from the channel bus (`src/channel-bus.ts`; fastest-validator
 * schema, checked before any listener sees it): the bus is authenticated, and what arrives over it is
 * checked too.
 */
export const MESSAGE_EVENT_PARAMS = {
	id: { type: "uuid" },
	seq: { type: "number", integer: true, positive: true },
	epoch: { type: "string", min: 1, max: 64 },
	channel: { type: "uuid" },
	author: { type: "string", min: 1, max: 256 },
	userId: { type: "string", optional: true, min: 1, max: 256 },
	text: { type: "string", min: 1 },
	sentAt: { type: "string", min: 1, max: 64 },
	clientMsgId: { type: "string", optional: true, max: 128 },
} as const;

/** Largest subscriber count one node may announce for a channel (far above STREAMS_PER_EDGE's range). */
const MAX_ANNOUNCED_SUBSCRIBERS = 10_000_000;

/** What a broadcast node accepts as a `broadcast.presence`. */
export const PRESENCE_EVENT_PARAMS = {
	nodeID: { type: "string", min: 1, max: 128 },
	counts: {
		type: "record",
		key: { type: "uuid" },
		value: { type: "number", integer: true, min: 0, max: MAX_ANNOUNCED_SUBSCRIBERS },
	},
	users: {
		type: "record",
		optional: true,
		key: { type: "uuid" },
		value: {
			type: "object",
			strict: "remove",
			props: {
				set: {
					type: "array",
					max: PRESENCE_USERS_MAX,
					items: {
						type: "object",
						strict: "remove",
						props: {
							userId: { type: "string", min: 1, max: 256 },
							name: { type: "string", min: 1, max: 256 },
							connections: { type: "number", integer: true, positive: true, max: MAX_ANNOUNCED_SUBSCRIBERS },
						},
					},
				},
				gone: { type: "array", max: PRESENCE_USERS_MAX, items: { type: "string", min: 1, max: 256 } },
			},
		},
	},
} as const;

/** The only group that receives Chatcast's events, so no other listener on the bus reacts twice. */
export const BROADCAST_GROUP = "broadcast";

/** Largest `limit` of one history page (`history.range`, `GET …/messages`, the REPL's `history`). */
export const HISTORY_PAGE_MAX = 500;

/** Channels per `history.heads` call: a broadcast node asks in batches of this size. */
export const HEADS_BATCH_MAX = 1000;
