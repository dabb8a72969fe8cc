#!/usr/bin/env bash
# Chatcast — ansible check (issue #5).
#
#  1. ansible-playbook --syntax-check and ansible-lint (production profile)
#  2. a --check run of the chatcast role; the role's secret checks refuse a
#     placeholder or short CLUSTER_SECRET
#  3. applies the real mosquitto + redis roles (ansible/tests/throwaway.yml) to
#     a throw-away instance under a temp dir, on free high ports, without
#     systemd, with random passwords; then a second apply must change nothing
#  4. proves with real clients: the edge, core and operator MQTT users work
#     (plain + TLS) and reach each other on the Moleculer topics; anonymous,
#     wrong-password and cross-user MQTT clients and password-less Redis
#     clients are refused; the MQTT ACL confines every user to the Moleculer
#     topics of MOL-<namespace>/...; the Redis app user cannot run dangerous
#     commands; maxmemory-policy is noeviction; no plain-text password lands
#     in the config files
#  5. renders the chatcast role's env file (ansible/tests/chatcast-env.yml)
#     for the throw-away instances: 0600, CLUSTER_SECRET, EDGE_/CORE_MQTT_URL
#  6. rotates the passwords with a third apply: new ones work, old ones fail;
#     with the hook, real nodes run mid cluster-secret rotation
#  7. stops the daemons it started (by the PIDs in their pid files) and
#     removes the temp dir (also on failure, via trap)
#
# Needs root (the roles chown to the mosquitto/redis users) and these Debian
# packages: ansible ansible-lint mosquitto mosquitto-clients redis-server
# redis-tools python3-apt (python3-cryptography comes with ansible).
# The host's own Redis (6379) and Mosquitto (1883) are never touched.
#
# Hook: if CHATCAST_CONNECT_CHECK is set to a shell command, it is run with
# CHATCAST_ENV_FILE (the env file the chatcast role rendered for the
# throw-away instances; CHATCAST_EDGE_ENV_FILE, if set, is the edges' one) and
# REDIS_ADMIN_URL exported, and its exit status counts as one check. It runs
# once after the first apply and once after the rotation.
#
# Last line of output: "N passed, M failed". Exit status 0 only if M is 0.
set -euo pipefail

# shellcheck source=test/ansible/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$T" ] && [ -d "$T" ]; then
    stop_by_pidfile "$T/mosquitto/run/mosquitto.pid" /usr/sbin/mosquitto
    stop_by_pidfile "$T/redis/run/redis-server.pid" /usr/bin/redis-server
    rm -rf -- "$T"
  fi
}

trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- preflight
missing=()
for cmd in ansible-playbook ansible-lint mosquitto_pub mosquitto_sub redis-cli start-stop-daemon timeout; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
for f in /usr/sbin/mosquitto /usr/bin/redis-server; do
  [ -x "$f" ] || missing+=("$f")
done
/usr/bin/python3 -c 'import apt, cryptography' >/dev/null 2>&1 || missing+=(python3-apt/python3-cryptography)
if [ "${#missing[@]}" -gt 0 ]; then
  fail "preflight: missing ${missing[*]} (apt-get install ansible ansible-lint mosquitto mosquitto-clients redis-server redis-tools python3-apt)"
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  fail "preflight: must run as root (the roles create files owned by the mosquitto/redis users)"
  exit 1
fi

make_temp_dir chatcast-ansible

# Free high ports (bound together so they differ, then released).
read -r MQTT_PORT MQTT_TLS_PORT REDIS_PORT < <(free_ports 3)
EDGE_PW=$(rand)
CORE_PW=$(rand)
OPER_PW=$(rand)
PROBE_PW=$(rand)
REDIS_APP_PW=$(rand)
CLUSTER_SECRET=$(rand)$(rand) # 80 hex characters (at least 32 are required)
CLUSTER_SECRET_PREVIOUS=""

# The current ports, passwords and secrets -> $T/secrets/vars.json (0600), the
# extra vars of tests/throwaway.yml and tests/chatcast-env.yml.
write_vars() {
  (umask 077 && env throwaway_dir="$T" throwaway_env_dir="$T/env" throwaway_mqtt_port="$MQTT_PORT" \
    throwaway_mqtt_tls_port="$MQTT_TLS_PORT" throwaway_redis_port="$REDIS_PORT" \
    throwaway_mqtt_edge_password="$EDGE_PW" throwaway_mqtt_core_password="$CORE_PW" \
    throwaway_mqtt_operator_password="$OPER_PW" throwaway_probe_password="$PROBE_PW" \
    throwaway_redis_app_password="$REDIS_APP_PW" throwaway_cluster_secret="$CLUSTER_SECRET" \
    throwaway_cluster_secret_previous="$CLUSTER_SECRET_PREVIOUS" "$PY" -c '
import json, os
ports = {"throwaway_mqtt_port", "throwaway_mqtt_tls_port", "throwaway_redis_port"}
print(json.dumps({k: int(v) if k in ports else v for k, v in os.environ.items() if k.startswith("throwaway_")}))
' >"$T/secrets/vars.json")
}

apply() { # log-name -> runs the throw-away playbook, output in $LOGDIR/<name>.log
  timeout 150 ansible-playbook -i inventory/local.ini tests/throwaway.yml \
    -e "@$T/secrets/vars.json" >"$LOGDIR/$1.log" 2>&1
}
render_env() { # log-name [extra -e args...] -> the chatcast role's env file in $T/env (tests/chatcast-env.yml)
  local name=$1
  shift
  timeout 60 ansible-playbook -i inventory/local.ini tests/chatcast-env.yml \
    -e "@$T/secrets/vars.json" "$@" >"$LOGDIR/$name.log" 2>&1
}
recap() { grep -E '^localhost +:' "$LOGDIR/$1.log" | tail -1; }
show_log() { echo "     ---- last lines of $1:"; tail -n "${2:-25}" "$LOGDIR/$1.log" | sed 's/^/     | /'; }

listening() { # port -> 0 if something listens on it (IPv4 or IPv6)
  awk -v p="$(printf ':%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
system_listeners() { local p; for p in 6379 1883; do if listening "$p"; then printf '%s ' "$p"; fi; done; }
SYS_BEFORE=$(system_listeners)

info "temp dir $T, ports mqtt=$MQTT_PORT mqtts=$MQTT_TLS_PORT redis=$REDIS_PORT"

# ------------------------------------------------------ syntax-check + lint
PLAYBOOKS=(site.yml tests/throwaway.yml tests/chatcast-check.yml tests/chatcast-env.yml)
if ansible-playbook -i inventory/local.ini --syntax-check "${PLAYBOOKS[@]}" >"$LOGDIR/syntax.log" 2>&1; then
  pass "ansible-playbook --syntax-check ${PLAYBOOKS[*]}"
else
  fail "ansible-playbook --syntax-check"
  show_log syntax
fi

if timeout 120 ansible-lint --offline --nocolor --profile production "${PLAYBOOKS[@]}" roles group_vars >"$LOGDIR/lint.log" 2>&1; then
  pass "ansible-lint --profile production ($(grep -Eo 'Passed with [a-z]+ profile' "$LOGDIR/lint.log" | head -1 || true))"
else
  fail "ansible-lint --profile production"
  show_log lint 40
fi

# ------------------------------------------- chatcast role: dry run only
if timeout 120 ansible-playbook -i inventory/local.ini tests/chatcast-check.yml --check \
  -e "throwaway_dir=$T" >"$LOGDIR/chatcast-check.log" 2>&1 &&
  [[ "$(recap chatcast-check)" =~ failed=0\  ]] && [ ! -e "$T/chatcast" ]; then
  pass "chatcast role: --check run on this host (no systemd, no chatcast user yet) succeeds and changes nothing"
else
  fail "chatcast role: --check run"
  show_log chatcast-check 30
fi

# The chatcast role's secret checks (its env tasks, for real, into $T/env).
write_vars
refuses_secret() { # description value: the role must refuse CLUSTER_SECRET=value and write no env file
  local name="refuse-$RANDOM"
  ! render_env "$name" -e "throwaway_cluster_secret=$1" && grep -q 'chatcast_cluster_secret (at least 32 characters)' "$LOGDIR/$name.log" &&
    [ ! -e "$T/env/chatcast.env" ]
}
check "chatcast role refuses the CHANGE_ME placeholder as CLUSTER_SECRET" refuses_secret CHANGE_ME
check "chatcast role refuses a CLUSTER_SECRET shorter than 32 characters (31)" refuses_secret "$(head -c 31 <<<"$CLUSTER_SECRET")"

# ----------------------------------------------------------- first apply
if apply apply1; then
  pass "apply #1: mosquitto + redis roles on a throw-away instance ($(recap apply1 | tr -s ' '))"
else
  fail "apply #1 failed"
  show_log apply1 40
  exit 1
fi

# ------------------------------------------------- second apply: changed=0
if apply apply2 && [[ "$(recap apply2)" =~ changed=0\ .*failed=0\  ]]; then
  pass "apply #2 is idempotent ($(recap apply2 | tr -s ' '))"
else
  fail "apply #2 is not idempotent: $(recap apply2 || true)"
  grep -E '^(changed|TASK|RUNNING)' "$LOGDIR/apply2.log" | grep -B1 '^changed' | sed 's/^/     | /' || true
fi

MQ_PID=$(cat "$T/mosquitto/run/mosquitto.pid" 2>/dev/null || true)
RD_PID=$(cat "$T/redis/run/redis-server.pid" 2>/dev/null || true)
check "throw-away mosquitto runs (pid ${MQ_PID:-none}, user mosquitto, not the system broker)" \
  bash -c '[ -n "$1" ] && [ "$(ps -o user= -p "$1")" = mosquitto ] && ps -o args= -p "$1" | grep -q -- "$2"' _ "$MQ_PID" "$T/mosquitto/etc/mosquitto.conf"
check "throw-away redis runs (pid ${RD_PID:-none}, user redis, port $REDIS_PORT)" \
  bash -c '[ -n "$1" ] && [ "$(ps -o user= -p "$1")" = redis ] && ps -o args= -p "$1" | grep -q -- ":$2"' _ "$RD_PID" "$REDIS_PORT"

# ------------------------------------------------------------------ MQTT
MQ_LOG="$T/mosquitto/log/mosquitto.log"
CAFILE="$T/mosquitto/etc/tls/server.crt"
mq() { timeout 15 "$@"; }

# Round trip: subscriber (user $1/$2) on topic $5 receives what publisher
# ($3/$4) sends. Extra mosquitto options for both in $MQ_OPTS (array).
MQ_OPTS=()
roundtrip() {
  mqtt_roundtrip "$5" -p "$6" "${MQ_OPTS[@]}" -u "$1" -P "$2" -- -p "$6" "${MQ_OPTS[@]}" -u "$3" -P "$4"
}

# Every account reaches the others on the Moleculer topics: an edge calls a
# core (REQ), the core answers and emits (RES, EVENT), the operator's REPL
# discovers, every node heartbeats.
check "MQTT: edge user -> core user on MOL-$NAMESPACE/REQ/core-1" \
  roundtrip chatcast_core "$CORE_PW" chatcast_edge "$EDGE_PW" "MOL-$NAMESPACE/REQ/core-1" "$MQTT_PORT"
check "MQTT: core user -> edge user on MOL-$NAMESPACE/RES/edge-1" \
  roundtrip chatcast_edge "$EDGE_PW" chatcast_core "$CORE_PW" "MOL-$NAMESPACE/RES/edge-1" "$MQTT_PORT"
check "MQTT: core user -> edge user on MOL-$NAMESPACE/EVENT/edge-1" \
  roundtrip chatcast_edge "$EDGE_PW" chatcast_core "$CORE_PW" "MOL-$NAMESPACE/EVENT/edge-1" "$MQTT_PORT"
check "MQTT: operator user -> edge user on MOL-$NAMESPACE/DISCOVER" \
  roundtrip chatcast_edge "$EDGE_PW" operator "$OPER_PW" "MOL-$NAMESPACE/DISCOVER" "$MQTT_PORT"
check "MQTT: edge user -> operator user on MOL-$NAMESPACE/HEARTBEAT" \
  roundtrip operator "$OPER_PW" chatcast_edge "$EDGE_PW" "MOL-$NAMESPACE/HEARTBEAT" "$MQTT_PORT"
# The channel bus: an edge (which stores what it accepts) or a core publishes a
# stored message on its channel's topic, edges (and the operator's tail) receive
# it; the operator cannot publish there.
CHANNEL_TOPIC="$NAMESPACE/channel/c3743620-cc30-11e6-9d9d-cec0c932ce01"
check "MQTT: core user -> edge user on $CHANNEL_TOPIC" \
  roundtrip chatcast_edge "$EDGE_PW" chatcast_core "$CORE_PW" "$CHANNEL_TOPIC" "$MQTT_PORT"
check "MQTT: edge user -> edge user on $CHANNEL_TOPIC" \
  roundtrip chatcast_edge "$EDGE_PW" chatcast_edge "$EDGE_PW" "$CHANNEL_TOPIC" "$MQTT_PORT"
check "MQTT: core user -> operator user on $CHANNEL_TOPIC" \
  roundtrip operator "$OPER_PW" chatcast_core "$CORE_PW" "$CHANNEL_TOPIC" "$MQTT_PORT"
operator_channel_denied() { # the broker refuses the operator's publish on a channel topic (and logs it)
  local i
  for i in $(seq 1 10); do
    mq mosquitto_pub -p "$MQTT_PORT" -u operator -P "$OPER_PW" -t "$CHANNEL_TOPIC" -m forged -q 1 >/dev/null 2>&1 || true
    grep -q "Denied PUBLISH .*'$CHANNEL_TOPIC'" "$MQ_LOG" && return 0
    sleep 0.2
  done
  return 1
}
check "MQTT ACL: the operator user cannot publish on a channel topic (edges readwrite, cores write, operator read)" operator_channel_denied
MQ_OPTS=(-h localhost --cafile "$CAFILE")
check "MQTT/TLS: core -> edge on the TLS listener (port $MQTT_TLS_PORT, generated certificate verified)" \
  roundtrip chatcast_edge "$EDGE_PW" chatcast_core "$CORE_PW" "MOL-$NAMESPACE/INFO/edge-1" "$MQTT_TLS_PORT"
MQ_OPTS=()

check "MQTT: anonymous publish is refused (not authorised)" \
  refused mq mosquitto_pub -p "$MQTT_PORT" -t "MOL-$NAMESPACE/HEARTBEAT" -m anon
check "MQTT: anonymous subscribe is refused (not authorised)" \
  refused mq mosquitto_sub -p "$MQTT_PORT" -t "MOL-$NAMESPACE/#" -C 1 -W 5
check "MQTT: wrong password is refused (not authorised)" \
  refused mq mosquitto_pub -p "$MQTT_PORT" -u chatcast_edge -P "wrong-$EDGE_PW" -t "MOL-$NAMESPACE/HEARTBEAT" -m bad
check "MQTT: the edge user with the core user's password is refused (not authorised)" \
  refused mq mosquitto_pub -p "$MQTT_PORT" -u chatcast_edge -P "$CORE_PW" -t "MOL-$NAMESPACE/HEARTBEAT" -m bad
check "MQTT: the old shared user 'chatcast' does not exist (not authorised)" \
  refused mq mosquitto_pub -p "$MQTT_PORT" -u chatcast -P "$CORE_PW" -t "MOL-$NAMESPACE/HEARTBEAT" -m bad
check "MQTT/TLS: anonymous client is refused on the TLS listener" \
  refused mq mosquitto_pub -p "$MQTT_TLS_PORT" -h localhost --cafile "$CAFILE" -t "MOL-$NAMESPACE/HEARTBEAT" -m anon

# Outside the namespace, a "." separator, a command Moleculer does not use, a
# command without / with a node ID where Moleculer uses the other form, and
# deeper levels.
FORBIDDEN=(other/topic "MOL-other/EVENT/node-1" "MOL-other/HEARTBEAT" "MOL-$NAMESPACE.EVENT.node-1"
  "MOL-${NAMESPACE}x/EVENT/n" "MOL-$NAMESPACE/OTHER" "MOL-$NAMESPACE/EVENT" "MOL-$NAMESPACE/HEARTBEAT/n"
  "MOL-$NAMESPACE/REQ/n/extra" "MOL-$NAMESPACE/EVENTB/group/chat.message"
  "other/channel/c1" "$NAMESPACE/channel/c1/extra" "${NAMESPACE}x/channel/c1")
SENTINEL="MOL-$NAMESPACE/HEARTBEAT"

# Watch as user $1/$2 on '#' while $3/$4 publishes FORBIDDEN topics; the
# watcher must see the allowed sentinels but none of the forbidden topics.
acl_probe() {
  local wu=$1 wp=$2 pu=$3 pp=$4 out="$LOGDIR/acl-$1-$3.out" i t
  timeout 20 mosquitto_sub -p "$MQTT_PORT" -u "$wu" -P "$wp" -t '#' -t 'MOL-other/#' -t other/topic -t "MOL-$NAMESPACE/#" -v >"$out" 2>&1 &
  local sub=$!
  BG_PIDS+=("$sub")
  for i in $(seq 1 40); do # wait until the watcher is subscribed
    mq mosquitto_pub -p "$MQTT_PORT" -u "$pu" -P "$pp" -t "$SENTINEL" -m ready -q 1 >/dev/null 2>&1 || true
    grep -q "^$SENTINEL ready" "$out" && break
    sleep 0.2
  done
  for t in "${FORBIDDEN[@]}"; do
    mq mosquitto_pub -p "$MQTT_PORT" -u "$pu" -P "$pp" -t "$t" -m forbidden -q 1 >/dev/null 2>&1 || true
  done
  for i in $(seq 1 40); do # sentinel after the forbidden publishes
    mq mosquitto_pub -p "$MQTT_PORT" -u "$pu" -P "$pp" -t "$SENTINEL" -m done -q 1 >/dev/null 2>&1 || true
    grep -q "^$SENTINEL done" "$out" && break
    sleep 0.2
  done
  kill "$sub" 2>/dev/null || true
  wait "$sub" 2>/dev/null || true
  grep -q "^$SENTINEL ready" "$out" && grep -q "^$SENTINEL done" "$out" && ! grep -q ' forbidden$' "$out"
}
# probe is a test-only superuser (readwrite #) used as the other party.
for u in chatcast_edge:"$EDGE_PW" chatcast_core:"$CORE_PW" operator:"$OPER_PW"; do
  check "MQTT ACL: ${u%%:*} cannot publish outside the Moleculer topics of MOL-$NAMESPACE/ (${#FORBIDDEN[@]} topics: other namespaces, '.', other commands and levels); a '#' watcher sees none of it" \
    acl_probe probe "$PROBE_PW" "${u%%:*}" "${u#*:}"
done
check "MQTT ACL: broker logged 'Denied PUBLISH' for the forbidden topics" \
  bash -c 'grep -q "Denied PUBLISH .*other/topic" "$1" && grep -q "Denied PUBLISH .*MOL-other/EVENT/node-1" "$1" &&
           grep -q "Denied PUBLISH .*MOL-$2/OTHER" "$1"' _ "$MQ_LOG" "$NAMESPACE"
for u in chatcast_edge:"$EDGE_PW" chatcast_core:"$CORE_PW"; do
  check "MQTT ACL: ${u%%:*} subscribed to '#', MOL-$NAMESPACE/#, MOL-other/# and other/topic receives none of the forbidden topics" \
    acl_probe "${u%%:*}" "${u#*:}" probe "$PROBE_PW"
done

# ----------------------------------------------------------------- Redis
ADMIN_PW_FILE="$T/secrets/redis-throwaway-default.password"
ADMIN_PW=$(cat "$ADMIN_PW_FILE" 2>/dev/null || true)
rc() { timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning "$@" 2>&1; }
# (output is captured first: grep -q/head in a pipe could SIGPIPE the client)
out_is() { # expected command... : first line of the output equals expected
  local want=$1 out
  shift
  out=$("$@" || true)
  [ "${out%%$'\n'*}" = "$want" ]
}
out_has() { # pattern command... : the output (stdout+stderr) matches pattern
  local pat=$1 out
  shift
  out=$("$@" || true)
  grep -q -- "$pat" <<<"$out"
}
check "Redis: app user 'chatcast' with its password: PING -> PONG" \
  out_is PONG rc --user chatcast --pass "$REDIS_APP_PW" PING
check "Redis: default user with the role-generated admin password ($(basename "$ADMIN_PW_FILE")): PING -> PONG" \
  out_is PONG rc -a "$ADMIN_PW" PING
check "Redis: no password: PING -> NOAUTH" \
  out_has '^NOAUTH' rc PING
check "Redis: no password: GET -> NOAUTH" \
  out_has '^NOAUTH' rc GET some-key
check "Redis: wrong password -> WRONGPASS" \
  out_has 'WRONGPASS' rc --user chatcast --pass "wrong-$REDIS_APP_PW" PING
history_write() {
  rc --user chatcast --pass "$REDIS_APP_PW" RPUSH "$NAMESPACE:history:test" m1 >/dev/null &&
    [ "$(rc --user chatcast --pass "$REDIS_APP_PW" EXPIRE "$NAMESPACE:history:test" 600)" = 1 ] &&
    [ "$(rc --user chatcast --pass "$REDIS_APP_PW" LINDEX "$NAMESPACE:history:test" 0)" = m1 ]
}
check "Redis: app user can write history under $NAMESPACE: (RPUSH + EXPIRE + LINDEX)" history_write
check "Redis: app user may not touch keys outside $NAMESPACE: (SET other:key -> NOPERM)" \
  out_has 'NOPERM' rc --user chatcast --pass "$REDIS_APP_PW" SET other:key x
check "Redis: app user may not run dangerous commands (CONFIG SET / FLUSHALL -> NOPERM)" \
  bash -c 'a=$("$@" CONFIG SET maxmemory 0); b=$("$@" FLUSHALL); [[ $a == *NOPERM* && $b == *NOPERM* ]]' _ \
  timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning --user chatcast --pass "$REDIS_APP_PW"
check "Redis: maxmemory-policy is noeviction (a full Redis refuses writes, it never drops history)" \
  bash -c '[ "$("$@" CONFIG GET maxmemory-policy | sed -n 2p)" = noeviction ]' _ \
  timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning -a "$ADMIN_PW"
check "Redis: maxmemory is 64mb (67108864)" \
  bash -c '[ "$("$@" CONFIG GET maxmemory | sed -n 2p)" = 67108864 ]' _ \
  timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning -a "$ADMIN_PW"
check "Redis: bound to 127.0.0.1 only, protected-mode yes" \
  bash -c 'b=$("$@" CONFIG GET bind | sed -n 2p); p=$("$@" CONFIG GET protected-mode | sed -n 2p); [ "$b" = 127.0.0.1 ] && [ "$p" = yes ]' _ \
  timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning -a "$ADMIN_PW"

# ------------------------------------------------------------ files/secrets
no_plaintext() { # no password in clear in the generated configs
  ! grep -rqF -e "$EDGE_PW" -e "$CORE_PW" -e "$OPER_PW" -e "$PROBE_PW" -e "$REDIS_APP_PW" -e "$ADMIN_PW" \
    "$T/mosquitto/etc" "$T/redis/etc"
}
check "MQTT: TCP_NODELAY on (Moleculer's small back-to-back packets would wait ~40 ms each)" \
  grep -qx "set_tcp_nodelay true" "$T/mosquitto/etc/mosquitto.conf"
check "secrets: no plain-text password in the mosquitto/redis config files" no_plaintext
modes_ok() {
  [ "$(stat -c '%a %U:%G' "$T/mosquitto/etc/passwd")" = "640 root:mosquitto" ] &&
    [ "$(stat -c '%a %U:%G' "$T/mosquitto/etc/acl")" = "640 root:mosquitto" ] &&
    [ "$(stat -c '%a %U:%G' "$T/mosquitto/etc/tls/server.key")" = "640 root:mosquitto" ] &&
    [ "$(stat -c '%a %U:%G' "$T/redis/etc/redis.conf")" = "640 root:redis" ] &&
    [ "$(stat -c '%a' "$ADMIN_PW_FILE")" = 600 ]
}
check "secrets: password file, ACL, TLS key and redis.conf are 0640 root:<service group>; generated secret 0600" modes_ok
# What a Moleculer 0.15 node subscribes to (and so the only topics it publishes to).
MOLECULER_TOPICS="DISCOVER DISCOVER/+ INFO INFO/+ HEARTBEAT DISCONNECT PING PING/+ PONG/+ EVENT/+ REQ/+ RES/+"
acl_is_exact() { # user access: its ACL lines are exactly "topic readwrite MOL-<ns>/<t>" for the Moleculer topics,
  # and "topic <access> <ns>/channel/+" for the channel bus
  local t want="topic $2 $NAMESPACE/channel/+"$'\n'
  for t in $MOLECULER_TOPICS; do want+="topic readwrite MOL-$NAMESPACE/$t"$'\n'; done
  [ "$(awk -v u="user $1" '$0 == u {f=1; next} /^user /{f=0} f && /^topic/' "$T/mosquitto/etc/acl" | sort)" = "$(sort <<<"${want%$'\n'}")" ]
}
for u in chatcast_edge:readwrite chatcast_core:write operator:read; do
  check "mosquitto ACL grants ${u%%:*} exactly the 12 Moleculer topics of MOL-$NAMESPACE/ ($MOLECULER_TOPICS) and ${u#*:} on $NAMESPACE/channel/+" \
    acl_is_exact "${u%%:*}" "${u#*:}"
done

# ------------------------------------------ the chatcast role's env file
ENV_FILE="$T/env/chatcast.env"
env_has() { # file secret previous: what the role wrote, read back the way pm2 gets it (set -a; . file)
  env -i bash -c 'set -a; . "$1"; set +a
    [ "$CLUSTER_SECRET" = "$2" ] && [ "${CLUSTER_SECRET_PREVIOUS-unset}" = "$3" ] && [ -z "${MQTT_URL+set}" ] &&
    [ "$EDGE_MQTT_URL" = "mqtt://chatcast_edge:$4@127.0.0.1:$6" ] && [ "$CORE_MQTT_URL" = "mqtt://chatcast_core:$5@127.0.0.1:$6" ] &&
    [ "$REDIS_URL" = "redis://chatcast:$7@127.0.0.1:$8/0" ] && [ "$MQTT_TOPIC_SEPARATOR" = / ]' _ \
    "$1" "$2" "$3" "$EDGE_PW" "$CORE_PW" "$MQTT_PORT" "$REDIS_APP_PW" "$REDIS_PORT"
}
if render_env env1 && [[ "$(recap env1)" =~ failed=0\  ]]; then
  pass "chatcast role: env file rendered for the throw-away instances ($(recap env1 | tr -s ' '))"
else
  fail "chatcast role: env file not rendered"
  show_log env1 30
fi
env_first() { [ "$(stat -c '%a %U' "$ENV_FILE")" = "600 root" ] && env_has "$ENV_FILE" "$CLUSTER_SECRET" ""; }
check "chatcast env file is 0600 and holds CLUSTER_SECRET, an empty CLUSTER_SECRET_PREVIOUS, EDGE_MQTT_URL (chatcast_edge), CORE_MQTT_URL (chatcast_core), REDIS_URL and no shared MQTT_URL" \
  env_first
env_again() { render_env env2 && [[ "$(recap env2)" =~ changed=0\ .*failed=0\  ]]; }
check "chatcast env file: a second render with the same inputs changes nothing" env_again

# ----------------------------------------------- hook: real Chatcast nodes
# >>> CHATCAST_CONNECT_CHECK hook
run_connect_check() { # label [edge env file]: the hook with the env file(s) the chatcast role rendered
  [ -n "${CHATCAST_CONNECT_CHECK:-}" ] || return 0
  info "running CHATCAST_CONNECT_CHECK ($1) against the throw-away instances"
  if (
    export CHATCAST_ENV_FILE="$ENV_FILE" CHATCAST_EDGE_ENV_FILE="${2:-$ENV_FILE}"
    export REDIS_ADMIN_URL="redis://default:$ADMIN_PW@127.0.0.1:$REDIS_PORT/0"
    cd "$ROOT" && bash -c "$CHATCAST_CONNECT_CHECK"
  ); then
    pass "CHATCAST_CONNECT_CHECK ($1): $CHATCAST_CONNECT_CHECK"
  else
    fail "CHATCAST_CONNECT_CHECK ($1): $CHATCAST_CONNECT_CHECK"
  fi
}
run_connect_check "edge and core nodes with the generated credentials"
# <<< CHATCAST_CONNECT_CHECK hook

# ---------------------------------------- password and secret rotation
OLD_EDGE_PW=$EDGE_PW OLD_CORE_PW=$CORE_PW OLD_OPER_PW=$OPER_PW OLD_REDIS_APP_PW=$REDIS_APP_PW
EDGE_PW=$(rand) CORE_PW=$(rand) OPER_PW=$(rand) REDIS_APP_PW=$(rand)
write_vars
if apply apply3 && [[ "$(recap apply3)" =~ failed=0\  ]]; then
  pass "apply #3: password rotation ($(recap apply3 | tr -s ' '))"
else
  fail "apply #3 (password rotation) failed"
  show_log apply3 40
fi
new_passwords_work() {
  roundtrip chatcast_core "$CORE_PW" chatcast_edge "$EDGE_PW" "MOL-$NAMESPACE/REQ/core-2" "$MQTT_PORT" &&
    roundtrip chatcast_edge "$EDGE_PW" chatcast_core "$CORE_PW" "MOL-$NAMESPACE/RES/edge-2" "$MQTT_PORT" &&
    roundtrip chatcast_edge "$EDGE_PW" operator "$OPER_PW" "MOL-$NAMESPACE/PING" "$MQTT_PORT"
}
check "rotation: new MQTT passwords work (edge -> core, core -> edge, operator -> edge)" new_passwords_work
for u in chatcast_edge:"$OLD_EDGE_PW" chatcast_core:"$OLD_CORE_PW" operator:"$OLD_OPER_PW"; do
  check "rotation: old MQTT password of ${u%%:*} is refused" \
    refused mq mosquitto_pub -p "$MQTT_PORT" -u "${u%%:*}" -P "${u#*:}" -t "MOL-$NAMESPACE/HEARTBEAT" -m old
done
check "rotation: new Redis app password works" \
  out_is PONG rc --user chatcast --pass "$REDIS_APP_PW" PING
check "rotation: old Redis app password is refused (WRONGPASS)" \
  out_has 'WRONGPASS' rc --user chatcast --pass "$OLD_REDIS_APP_PW" PING
check "rotation: history written before the rotation survived the Redis restart" \
  out_is m1 rc --user chatcast --pass "$REDIS_APP_PW" LINDEX "$NAMESPACE:history:test" 0

# The cluster secret, in the middle of the rollout ansible/README.md describes:
# the core has moved on to step 2 (signs with the new secret, still accepts
# the old one), the edge is still at step 1 (signs with the old, accepts the new).
OLD_SECRET=$CLUSTER_SECRET
NEW_SECRET=$(rand)$(rand)
EDGE_ENV_FILE="$T/env-edge/chatcast.env"
CLUSTER_SECRET=$OLD_SECRET CLUSTER_SECRET_PREVIOUS=$NEW_SECRET
write_vars
step1() { render_env env-edge -e "throwaway_env_dir=$T/env-edge" && env_has "$EDGE_ENV_FILE" "$OLD_SECRET" "$NEW_SECRET"; }
check "secret rotation step 1 (edge's env file): CLUSTER_SECRET old, CLUSTER_SECRET_PREVIOUS new" step1
CLUSTER_SECRET=$NEW_SECRET CLUSTER_SECRET_PREVIOUS=$OLD_SECRET
write_vars
step2() { render_env env3 && env_has "$ENV_FILE" "$NEW_SECRET" "$OLD_SECRET"; }
check "secret rotation step 2 (env file): CLUSTER_SECRET new, CLUSTER_SECRET_PREVIOUS old" step2
run_connect_check "after the rotation: new passwords; edge at secret step 1, core at step 2" "$EDGE_ENV_FILE"

# ------------------------------------------------------------- new-vault.sh
vault_check() {
  local pw="$T/vault-pass" out="$T/new-vault.yml" plain
  echo "test-vault-password" >"$pw"
  ANSIBLE_VAULT_PASSWORD_FILE=$pw VAULT_FILE=$out "$ANSIBLE_DIR/new-vault.sh" >/dev/null &&
    head -c 14 "$out" | grep -q '^$ANSIBLE_VAULT' &&
    plain=$(ansible-vault view --vault-password-file "$pw" "$out") &&
    for var in vault_mqtt_edge_password vault_mqtt_core_password vault_mqtt_operator_password \
               vault_redis_admin_password vault_redis_app_password vault_nats_route_password \
               vault_redis_replication_password vault_redis_sentinel_password vault_redis_sentinel_acl_password; do
      echo "$plain" | grep -Eq "^$var: [0-9a-f]{48}\$" || return 1
    done &&
    echo "$plain" | grep -Eq '^vault_cluster_secret: [0-9a-f]{64}$' &&
    ! ANSIBLE_VAULT_PASSWORD_FILE=$pw VAULT_FILE=$out "$ANSIBLE_DIR/new-vault.sh" 2>/dev/null
}
check "new-vault.sh writes an encrypted vault with a fresh value for every secret, and never overwrites one" vault_check

# ------------------------------------------------------------- stop daemons
MQ_PID=$(cat "$T/mosquitto/run/mosquitto.pid" 2>/dev/null || true)
RD_PID=$(cat "$T/redis/run/redis-server.pid" 2>/dev/null || true)
stop_by_pidfile "$T/mosquitto/run/mosquitto.pid" /usr/sbin/mosquitto
stop_by_pidfile "$T/redis/run/redis-server.pid" /usr/bin/redis-server
check "throw-away daemons stopped by PID (mosquitto ${MQ_PID:-?}, redis ${RD_PID:-?})" \
  bash -c 'gone() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null || true); [ -z "$s" ] || [ "${s#Z}" != "$s" ]; }
           [ -n "$1" ] && [ -n "$2" ] && gone "$1" && gone "$2"' _ "$MQ_PID" "$RD_PID"
check "host's own Redis (6379) / Mosquitto (1883) untouched (listening before: '$SYS_BEFORE', after: '$(system_listeners)')" \
  test "$SYS_BEFORE" = "$(system_listeners)"

cleanup
T=""
summary
[ "$FAILED" -eq 0 ]
