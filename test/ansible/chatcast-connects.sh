#!/usr/bin/env bash
# Proves a real Chatcast node works with the credentials ansible generated: run by test/ansible/run.sh
# (CHATCAST_CONNECT_CHECK) with MQTT_URL, REDIS_URL, NAMESPACE and MQTT_TOPIC_SEPARATOR of the
# throw-away Mosquitto and Redis. The node must report ready (transporter connected, Redis answers),
# store a message (Lua script, ACL user) and read it back. Needs `npm run build` first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

log=$(mktemp)
# One node: any secret seals its packets (a cluster's nodes share one; the chatcast role writes it to the env file).
export CLUSTER_SECRET="${CLUSTER_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}"
PORT=0 LOG_LEVEL=warn node dist/src/bin/start.js >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT

port=""
for _ in $(seq 1 100); do
	port=$(sed -n 's/^CHATCAST_READY .*"port":\([0-9]*\).*/\1/p' "$log")
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
if [ -z "$port" ]; then echo "Chatcast did not start:"; cat "$log"; exit 1; fi

base="http://127.0.0.1:$port/api"
channel=$(cat /proc/sys/kernel/random/uuid)
ready=$(curl -s -w ' %{http_code}' "$base/ready")
echo "ready: $ready"
[[ "$ready" == *'"history":"ok (redis)"'*' 200' ]] || { cat "$log"; exit 1; }
published=$(curl -s -w ' %{http_code}' -X POST "$base/channels/$channel/messages" -H 'Content-Type: application/json' -d '{"text":"stored with ansible credentials"}')
echo "publish: $published"
[[ "$published" == *'"seq":1,'*' 201' ]] || { cat "$log"; exit 1; }
history=$(curl -s "$base/channels/$channel/messages")
[[ "$history" == *'stored with ansible credentials'* ]] || { echo "history: $history"; exit 1; }
echo "Chatcast connected with the generated MQTT and Redis credentials"
