/**
 * broadcast — holds this node's SSE streams and writes to them the messages of their channels, which
 * reach this node over the channel bus (src/channel-bus.ts) only while it has a subscriber for them.
 * Runs on every edge next to the api gateway (streams are local HTTP responses).
 * Channel counts are shared between broadcast nodes as `broadcast.presence` events.
 *
 * @example
 *   broker.createService(createBroadcastService(config, channelBus));
 *   // from the api gateway, on GET /api/channels/:channel/events
 *   await localBroadcast(broker)?.openStream(res, channel, { resumeFrom: { seq: 41, epoch: "f3Kq…" } });
 */
import type { SseSink } from "../src/channel-hub";
import type { Context, Service, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { ChannelHub, type StreamFormat, type StreamPosition } from "../src/channel-hub";
import type { ChatcastConfig } from "../src/config";
import type { ChannelBus } from "../src/channel-bus";
import {
	BROADCAST_GROUP,
	HEADS_BATCH_MAX,
	PRESENCE_EVENT,
	PRESENCE_EVENT_PARAMS,
	PRESENCE_USERS_MAX,
	type PresenceEvent,
	type StreamUser,
} from "../src/contract";
import type { HistoryPage } from "../src/history-store";
import { parseChannel, type ResumePoint } from "../src/message";
import { METRIC, registerChatMetrics } from "../src/metrics";
import {
	type ChannelCounts,
	chunkUserChanges,
	OwnUsers,
	PresenceTable,
	PresenceUsers,
	type PresenceUser,
	type UserChanges,
	type UserDelta,
} from "../src/presence";
import { SSE_HEADERS, sseEvent, sseRetry } from "../src/sse-frame";
import { type StreamHeadTarget, streamSocket, writeStreamHead } from "../src/stream-response";

export interface BroadcastSettings extends ServiceSettingSchema {
	heartbeatMs: number;
	retryMs: number;
	/** retry hint sent when this node shuts down: clients come back (to another edge) quickly. */
	shutdownRetryMs: number;
	maxBufferedBytes: number;
	/** How often changed subscriber counts are announced to the other nodes. */
	presenceIntervalMs: number;
	/** How often served channels are compared with history's last seqs (catches a lost last message). */
	resyncMs: number;
}

/** What a stream needs of an HTTP response: its head, and its socket, where the stream's frames go. */
export interface StreamResponse extends StreamHeadTarget {
	end(chunk?: string): unknown;
	readonly destroyed: boolean;
	on(event: "close", listener: () => void): unknown;
	readonly socket: (SseSink & { setNoDelay(noDelay: boolean): unknown; setTimeout(ms: number): unknown }) | null;
}

export interface OpenStreamOptions {
	/** From the client's Last-Event-ID: replay what came after it first. */
	resumeFrom?: ResumePoint;
	format?: StreamFormat;
	/** The authenticated user holding the stream (auth on); presence lists who is online from it. */
	user?: StreamUser;
	/** When the stream's token expires (ms since the epoch): it then gets `event: expired` and ends. */
	expiresAt?: number;
	/** Headers of the answer besides the stream's own (request id, nosniff, CORS), given to its writeHead. */
	headers?: Record<string, string>;
}

interface BroadcastMethods {
	openStream(res: StreamResponse, channel: string, options: OpenStreamOptions): Promise<void>;
	announcePresence(channels: Iterable<string>): void;
	announceUsers(changes: Record<string, UserChanges>): void;
	applyUsers(nodeID: string, channel: string, changes: UserChanges): void;
	notifyPresence(channel: string, delta?: UserDelta): void;
	checkHeads(): Promise<void>;
}

interface BroadcastVars {
	hub: ChannelHub;
	presence: PresenceTable;
	/** Who is online per channel over all nodes (auth on: streams carry a user). */
	users: PresenceUsers;
	/** This node's own users, announced as changes. */
	ownUsers: OwnUsers;
	changedChannels: Set<string>;
	timers: NodeJS.Timeout[];
	stopListening: () => void;
}

export type BroadcastService = Service<BroadcastSettings> & BroadcastMethods & BroadcastVars;

/**
 * This node's broadcast service, typed; undefined when the node runs none (or it has not been created).
 *
 * @example
 *   const broadcast = localBroadcast(this.broker);
 *   if (broadcast) await broadcast.openStream(res, channel, {});
 */
export function localBroadcast(broker: ServiceBroker): BroadcastService | undefined {
	const service: unknown = broker.getLocalService("broadcast");
	return isBroadcastService(service) ? service : undefined;
}

function isBroadcastService(service: unknown): service is BroadcastService {
	return typeof service === "object" && service !== null && "hub" in service && service.hub instanceof ChannelHub;
}

type BroadcastConfig = Pick<
	ChatcastConfig,
	"sseHeartbeatMs" | "sseRetryMs" | "sseMaxBufferedBytes" | "sseResyncMs" | "replayCache" | "auth"
>;

export function createBroadcastService(
	config: BroadcastConfig,
	bus: ChannelBus,
): ServiceSchema<BroadcastSettings, BroadcastMethods, BroadcastVars> {
	return {
		name: "broadcast",

		settings: {
			heartbeatMs: config.sseHeartbeatMs,
			retryMs: config.sseRetryMs,
			shutdownRetryMs: 250,
			maxBufferedBytes: config.sseMaxBufferedBytes,
			presenceIntervalMs: 500,
			resyncMs: config.sseResyncMs,
		},

		actions: {
			/** This node's streams per channel (for operators). */
			stats: {
				visibility: "public",
				handler() {
					return { nodeID: this.broker.nodeID, channels: this.hub.stats(), bus: bus.stats() };
				},
			},

			/** A channel's last seq and its subscribers over all broadcast nodes. */
			channel: {
				params: { channel: "string" },
				async handler(ctx: Context<{ channel: string }>) {
					const channel = parseChannel(ctx.params.channel);
					const page = await ctx.call<HistoryPage, object>("history.range", { channel, limit: 0 });
					return {
						channel,
						lastSeq: page.lastSeq,
						subscribers: this.presence.total(channel),
						byNode: this.presence.byNode(channel),
						// Who is online, over all edges: with auth only (streams without a token have no user).
						...(config.auth ? usersOf(this.users, channel) : {}),
					};
				},
			},

			/** Active channels with subscriber totals over all broadcast nodes. */
			channels: {
				visibility: "public",
				handler() {
					return this.presence.channelTotals();
				},
			},
		},

		events: {
			[PRESENCE_EVENT]: {
				group: BROADCAST_GROUP,
				params: PRESENCE_EVENT_PARAMS,
				handler(ctx: Context<PresenceEvent>) {
					// A node speaks for itself only: the sender, not what the payload claims.
					const sender = ctx.nodeID ?? ctx.params.nodeID;
					if (sender === this.broker.nodeID || sender !== ctx.params.nodeID) return;
					this.presence.update(sender, ctx.params.counts);
					const userChannels = Object.entries(ctx.params.users ?? {});
					for (const [channel, changes] of userChannels) this.applyUsers(sender, channel, changes);
					for (const channel of Object.keys(ctx.params.counts)) if (!ctx.params.users?.[channel]) this.notifyPresence(channel);
				},
			},

			"$transporter.connected"() {
				// Packets sent while we were away are lost: catch up from history, and re-announce our streams.
				// (Every connect, not only `wasReconnect`: the MQTT transporter reports a reconnect as a first connect.)
				this.hub.resyncAll();
				this.announcePresence(this.hub.stats().map(s => s.channel));
			},

			"$node.connected"() {
				this.announcePresence(this.hub.stats().map(s => s.channel));
				this.announceUsers(this.ownUsers.all());
			},

			"$node.disconnected"(ctx: Context<{ node: { id: string } }>) {
				const left = this.users.removeNode(ctx.params.node.id);
				for (const channel of this.presence.removeNode(ctx.params.node.id)) this.notifyPresence(channel, left[channel]);
			},
		},

		methods: {
			/**
			 * Serves one SSE stream until the client goes away. Rejects, with nothing written, when history
			 * cannot answer (the caller sends the error); afterwards the response belongs to the hub.
			 */
			async openStream(res: StreamResponse, channel: string, options: OpenStreamOptions): Promise<void> {
				res.socket?.setNoDelay(true);
				res.socket?.setTimeout(0);
				if (this.hub.isClosed) {
					// Shutting down: a stream that ends at once with a short retry sends EventSource to another edge
					// (on a new connection: a kept-alive one would lead back here).
					res.writeHead(200, { ...options.headers, ...SSE_HEADERS, Connection: "close" });
					res.end(sseRetry(this.settings.shutdownRetryMs));
					return;
				}
				const sink = streamSocket(res);
				if (!sink) return;
				const format = options.format ?? "chatcast";
				await this.hub.subscribe(channel, sink, {
					resumeFrom: options.resumeFrom,
					format,
					expiresAt: options.expiresAt,
					onOpen: () => {
						writeStreamHead(res, 200, { ...options.headers, ...SSE_HEADERS });
						sink.write(sseRetry(this.settings.retryMs));
						if (format === "chatcast") {
							const users = config.auth ? usersOf(this.users, channel) : {};
							sink.write(
								sseEvent({ event: "presence", data: JSON.stringify({ subscribers: this.presence.total(channel), ...users }) }),
							);
						}
					},
				});
				const user = options.user;
				if (!user || res.destroyed) return;
				this.applyUsers(this.broker.nodeID, channel, this.ownUsers.open(channel, user));
				res.on("close", () => this.applyUsers(this.broker.nodeID, channel, this.ownUsers.close(channel, user.userId)));
			},

			/** Tells the other broadcast nodes our users' changes, in packets of at most PRESENCE_USERS_MAX per channel. */
			announceUsers(changes: Record<string, UserChanges>): void {
				for (const users of chunkUserChanges(changes, PRESENCE_USERS_MAX)) {
					this.broker
						.broadcast<PresenceEvent>(
							PRESENCE_EVENT,
							{ nodeID: this.broker.nodeID, counts: {}, users },
							{ groups: [BROADCAST_GROUP] },
						)
						.catch((err: Error) => this.logger.warn("Presence announcement failed:", err.message));
				}
			},

			/** A node's user changes on a channel: the table, and who joined or left told to this node's streams. */
			applyUsers(nodeID: string, channel: string, changes: UserChanges): void {
				const delta = this.users.apply(nodeID, channel, changes);
				if (nodeID === this.broker.nodeID) this.changedChannels.add(channel);
				if (delta.joined.length > 0 || delta.left.length > 0) this.notifyPresence(channel, delta);
			},

			/** Tells the other broadcast nodes our counts for these channels (0 = none left). */
			announcePresence(channels: Iterable<string>): void {
				const counts: ChannelCounts = {};
				for (const channel of channels) counts[channel] = this.hub.subscriberCount(channel);
				if (Object.keys(counts).length === 0) return;
				this.broker
					.broadcast<PresenceEvent>(PRESENCE_EVENT, { nodeID: this.broker.nodeID, counts }, { groups: [BROADCAST_GROUP] })
					.catch((err: Error) => this.logger.warn("Presence announcement failed:", err.message));
			},

			/** Asks history for the head (epoch, last seq) of every served channel and repairs the channels that are behind. */
			async checkHeads(): Promise<void> {
				const channels = this.hub.servedChannels();
				for (let i = 0; i < channels.length; i += HEADS_BATCH_MAX) {
					try {
						this.hub.catchUp(
							await this.broker.call<Record<string, StreamPosition>, object>("history.heads", {
								channels: channels.slice(i, i + HEADS_BATCH_MAX),
							}),
						);
					} catch (err) {
						this.logger.debug("Heads check failed:", (err as Error).message);
						return;
					}
				}
			},

			notifyPresence(channel: string, delta?: UserDelta): void {
				const changes = delta && {
					...(delta.joined.length > 0 ? { joined: delta.joined.slice(0, PRESENCE_USERS_MAX) } : {}),
					...(delta.left.length > 0 ? { left: delta.left.slice(0, PRESENCE_USERS_MAX) } : {}),
					...(delta.joined.length > PRESENCE_USERS_MAX || delta.left.length > PRESENCE_USERS_MAX ? { truncated: true } : {}),
				};
				this.hub.notify(channel, "presence", { subscribers: this.presence.total(channel), ...changes });
			},
		},

		created() {
			this.presence = new PresenceTable();
			this.users = new PresenceUsers();
			this.ownUsers = new OwnUsers();
			this.changedChannels = new Set();
			this.timers = [];
			const metrics = this.broker.metrics;
			registerChatMetrics(metrics, [
				METRIC.SSE_CONNECTIONS,
				METRIC.DELIVERED,
				METRIC.PUBLISH_TO_DELIVER,
				METRIC.GAP_REPAIRS,
				METRIC.REPLAY_READS,
				METRIC.REPLAY_SHARED,
			]);
			this.hub = new ChannelHub({
				fetchHistory: (channel, after, limit) =>
					this.broker.call<HistoryPage, object>("history.range", { channel, after, limit }),
				maxBufferedBytes: this.settings.maxBufferedBytes,
				replayCache: config.replayCache,
				// A channel's messages reach this node only while it has subscribers (its topic on the bus).
				interest: bus,
				hooks: {
					historyRead: () => metrics.increment(METRIC.REPLAY_READS),
					shared: () => metrics.increment(METRIC.REPLAY_SHARED),
					subscribersChanged: (channel, count) => {
						this.presence.update(this.broker.nodeID, { [channel]: count });
						this.changedChannels.add(channel);
						metrics.set(METRIC.SSE_CONNECTIONS, this.hub.totalSubscribers);
					},
					delivered: (message, subscribers) => {
						if (subscribers === 0) return;
						metrics.increment(METRIC.DELIVERED, undefined, subscribers);
						metrics.observe(METRIC.PUBLISH_TO_DELIVER, (Date.now() - Date.parse(message.sentAt)) / 1000);
					},
					gapRepaired: (channel, fromSeq, toSeq) => {
						metrics.increment(METRIC.GAP_REPAIRS);
						this.logger.info(`Gap repaired on ${channel}: seq ${fromSeq}-${toSeq} from history`);
					},
					repairFailed: (channel, err) => this.logger.warn(`Gap repair on ${channel} failed, retrying:`, (err as Error).message),
					slowSubscriberDropped: channel => this.logger.warn(`A subscriber of ${channel} could not keep up and was disconnected`),
				},
			});
		},

		started() {
			this.stopListening = bus.listen({
				message: message => this.hub.deliver(message),
				// Packets sent while the bus was away are lost: catch up from history.
				resubscribed: () => this.hub.resyncAll(),
			});
			this.timers.push(
				setInterval(() => this.hub.heartbeat(), this.settings.heartbeatMs),
				// One sweep a second ends every stream whose token expired (no timer per stream).
				setInterval(() => this.hub.expireDue(), 1000),
				setInterval(() => void this.checkHeads(), this.settings.resyncMs),
				setInterval(() => {
					if (this.changedChannels.size === 0) return;
					const channels = [...this.changedChannels];
					this.changedChannels.clear();
					this.announcePresence(channels);
					this.announceUsers(this.ownUsers.takeChanges());
					for (const channel of channels) this.notifyPresence(channel);
				}, this.settings.presenceIntervalMs),
			);
			for (const timer of this.timers) timer.unref();
		},

		stopped() {
			this.stopListening();
			for (const timer of this.timers) clearInterval(timer);
			// Ending every stream lets the HTTP server close; clients reconnect with Last-Event-ID elsewhere.
			this.hub.closeAll(this.settings.shutdownRetryMs);
		},
	};
}

/** A channel's users over all nodes as clients see them: at most PRESENCE_USERS_MAX, `usersTruncated` beyond. */
function usersOf(users: PresenceUsers, channel: string): { users: PresenceUser[]; usersTruncated?: true } {
	const list = users.list(channel, PRESENCE_USERS_MAX);
	return list.truncated ? { users: list.users, usersTruncated: true } : { users: list.users };
}
