#!/usr/bin/env bash
# Proves real Chatcast nodes work with what ansible generated: run by test/ansible/run.sh (CHATCAST_CONNECT_CHECK) with
# CHATCAST_ENV_FILE, the env file the chatcast role rendered for the throw-away Mosquitto and Redis (the edge uses
# CHATCAST_EDGE_ENV_FILE if set), and REDIS_ADMIN_URL. It starts one core and one edge node as pm2 would: the env file,
# then the app's env from ecosystem.config.js, so each logs in as its own MQTT user and seals with CLUSTER_SECRET.
# The edge (every service, as ecosystem.config.js runs it with Redis) must report ready, store a message, stream it
# and read it back, next to the core on the same bus; with Redis full (noeviction) a new message gets 503 while stored history stays readable.
# Needs `npm run build` first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${CHATCAST_ENV_FILE:?the env file the chatcast role rendered}"

dir=$(mktemp -d)
pids=()
maxmemory=""
admin() { timeout 10 redis-cli -u "$REDIS_ADMIN_URL" --no-auth-warning "$@"; }
finish() {
	[ -z "$maxmemory" ] || admin CONFIG SET maxmemory "$maxmemory" >/dev/null || true
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap finish EXIT
fail() {
	echo "$*"
	for log in "$dir"/*.log; do echo "---- $log" && cat "$log"; done
	exit 1
}

# start APP KIND ENV_FILE: the pm2 app's script with its node_args and env, as user chatcast_KIND; log in $dir/APP.log.
start() {
	local app=$1 kind=$2 env_file=$3
	(
		set -a
		# shellcheck disable=SC1090
		. "$env_file"
		set +a
		# Loopback only, and no metrics ports (9100/9200 may be taken on this machine).
		# CORE_INSTANCES: the core app is optional with Redis (edges store themselves); it is here to prove its MQTT user.
		export HOST=127.0.0.1 EDGE_METRICS_PORT="" CORE_METRICS_PORT="" CORE_INSTANCES=1 CHATCAST_ENV_FILE="$env_file"
		mapfile -d '' spec < <(node -e '
			const app = require("./ecosystem.config.js").apps.find(a => a.name === process.argv[1]);
			const env = Object.entries(app.env).map(([k, v]) => `${k}=${v}`);
			process.stdout.write([...env, "--", ...app.node_args, app.script].map(s => `${s}\0`).join(""));
		' "$app")
		for i in "${!spec[@]}"; do [ "${spec[i]}" = -- ] && break; done
		vars=("${spec[@]:0:i}") args=("${spec[@]:i+1}")
		mqtt=$(printf '%s\n' "${vars[@]}" | sed -n 's|^MQTT_URL=\([a-z]*://[^:]*\):.*|\1|p')
		echo "$app: MQTT_URL user ${mqtt:-none}"
		[[ "$mqtt" =~ ^mqtts?://chatcast_${kind}$ ]] || exit 3
		exec env "${vars[@]}" node "${args[@]}"
	) >"$dir/$app.log" 2>&1 &
	pids+=($!)
}
ready_line() { # app pid -> the app's CHATCAST_READY line, once it has printed it
	for _ in $(seq 1 150); do
		grep -m1 '^CHATCAST_READY ' "$dir/$1.log" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

start chatcast-core core "$CHATCAST_ENV_FILE"
ready_line chatcast-core "${pids[0]}" >/dev/null || fail "the core did not start"
start chatcast-edge edge "${CHATCAST_EDGE_ENV_FILE:-$CHATCAST_ENV_FILE}"
port=$(ready_line chatcast-edge "${pids[1]}" | sed -n 's/.*"port":\([0-9]*\).*/\1/p') || true
[ -n "$port" ] || fail "the edge did not start"
head -n1 "$dir/chatcast-core.log" "$dir/chatcast-edge.log"

base="http://127.0.0.1:$port/api"
channel=$(cat /proc/sys/kernel/random/uuid)
ready=$(curl -s -w ' %{http_code}' "$base/ready")
echo "edge ready: $ready"
[[ "$ready" == *'"history":"ok (redis)"'*' 200' ]] || fail "the edge is not ready"

curl -sN --max-time 20 "$base/channels/$channel/events" >"$dir/stream.out" &
pids+=($!)
for _ in $(seq 1 50); do grep -q '^event: presence' "$dir/stream.out" && break; sleep 0.1; done
published=$(curl -s -w ' %{http_code}' -X POST "$base/channels/$channel/messages" -H 'Content-Type: application/json' \
	-d '{"text":"stored with ansible credentials"}')
echo "publish through the edge: $published"
[[ "$published" == *'"seq":1,'*' 201' ]] || fail "the message was not stored"
for _ in $(seq 1 50); do grep -q 'stored with ansible credentials' "$dir/stream.out" && break; sleep 0.1; done
grep -q 'stored with ansible credentials' "$dir/stream.out" || fail "the edge's stream did not get the core's event"
echo "the edge's stream got the message from the core"
history=$(curl -s "$base/channels/$channel/messages")
[[ "$history" == *'stored with ansible credentials'* ]] || fail "history: $history"

if [ -n "${REDIS_ADMIN_URL:-}" ]; then
	maxmemory=$(admin CONFIG GET maxmemory | sed -n 2p)
	admin CONFIG SET maxmemory 1 >/dev/null # full: every write is over maxmemory
	refused=$(curl -s -w ' %{http_code}' -X POST "$base/channels/$(cat /proc/sys/kernel/random/uuid)/messages" \
		-H 'Content-Type: text/plain' --data-binary 'no room')
	echo "publish with Redis full: $refused"
	[[ "$refused" == *'STORE_FULL'*' 503' ]] || fail "a write to a full Redis was not refused with 503"
	history=$(curl -s -w ' %{http_code}' "$base/channels/$channel/messages")
	[[ "$history" == *'stored with ansible credentials'*' 200' ]] || fail "history lost with Redis full: $history"
	echo "with Redis full the stored history is still there"
	admin CONFIG SET maxmemory "$maxmemory" >/dev/null
	maxmemory=""
fi
echo "Chatcast edge and core connected with the generated MQTT users, Redis user and CLUSTER_SECRET"
