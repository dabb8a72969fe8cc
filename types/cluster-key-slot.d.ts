/** The Redis Cluster hash slot of a key (0–16383, `{hash tag}` aware): ioredis's own dependency, typed. */
declare module "cluster-key-slot" {
	function calculateSlot(key: string | Buffer): number;
	export = calculateSlot;
}
