#!/usr/bin/env bash
# Chatcast — ansible check of the multi-host layout (issue #12): ansible/multi-host.yml for real.
#
#  1. ansible-playbook --syntax-check and ansible-lint (production profile) of multi-host.yml
#  2. one apply of ansible/tests/multi-host.yml: the nats, redis and redis_sentinel roles of
#     multi-host.yml on throw-away instances (3 NATS nodes, 3 Redis servers, 3 Sentinels; every
#     "host" is this machine, each node on free loopback ports under a temp dir, no systemd, random
#     secrets passed as the vault's variables), then the chatcast role's env file for 2 edges and 1 core
#  3. proves with real clients: the NATS nodes form one cluster; the edge user publishes on one node
#     and subscribes on another (MQTT over TLS, verified with the CA bundle the chatcast role wrote);
#     anonymous and wrong-password clients are refused; users are confined to their topics; each
#     Sentinel names the master and knows 2 replicas and 2 other Sentinels; the replicas replicate
#     with the replication account; every env file lists all brokers starting at another one and the
#     Sentinels, without REDIS_URL
#  4. a second apply of the Redis play (--tags redis) changes nothing, Sentinel's own rewrites included
#  5. with CHATCAST_CONNECT_CHECK (as run.sh): real Chatcast nodes started from the rendered env files
#  6. stops the daemons by the PIDs in their pid files and removes the temp dir (trap, also on failure)
#
# Needs root and: ansible ansible-lint nats-server mosquitto-clients redis-server redis-tools curl openssl.
# Last line of output: "N passed, M failed". Exit status 0 only if M is 0.
set -euo pipefail

# shellcheck source=test/ansible/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BROKERS=(b1 b2 b3)
REDISES=(r1 r2 r3)

cleanup() {
  local pid n
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$T" ] && [ -d "$T" ]; then
    for n in "${BROKERS[@]}"; do stop_by_pidfile "$T/$n/run/nats-server.pid" /usr/sbin/nats-server; done
    for n in "${REDISES[@]}"; do
      stop_by_pidfile "$T/$n/run/sentinel.pid" /usr/bin/redis-server
      stop_by_pidfile "$T/$n/run/redis-server.pid" /usr/bin/redis-server
    done
    rm -rf -- "$T"
  fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

missing=()
for cmd in ansible-playbook ansible-lint mosquitto_pub mosquitto_sub redis-cli start-stop-daemon curl openssl /usr/sbin/nats-server; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ "${#missing[@]}" -gt 0 ]; then fail "preflight: missing ${missing[*]}"; exit 1; fi
if [ "$(id -u)" != 0 ]; then fail "preflight: must run as root (the roles chown to the nats/redis users)"; exit 1; fi

make_temp_dir chatcast-multi-host

# Ports: per broker MQTT, route, client, monitor; per Redis host data server and Sentinel.
read -r -a P < <(free_ports 18)
declare -A MQTT ROUTE CLIENT MON RPORT SPORT
for i in 0 1 2; do
  MQTT[${BROKERS[i]}]=${P[i * 4]} ROUTE[${BROKERS[i]}]=${P[i * 4 + 1]}
  CLIENT[${BROKERS[i]}]=${P[i * 4 + 2]} MON[${BROKERS[i]}]=${P[i * 4 + 3]}
  RPORT[${REDISES[i]}]=${P[12 + i * 2]} SPORT[${REDISES[i]}]=${P[13 + i * 2]}
done
EDGE_PW=$(rand) CORE_PW=$(rand) OPER_PW=$(rand) PROBE_PW=$(rand) ROUTE_PW=$(rand)
ADMIN_PW=$(rand) APP_PW=$(rand) REPL_PW=$(rand) SENT_PW=$(rand) SENT_ACL_PW=$(rand)
SECRET=$(rand)$(rand)

# The vault's variables (what new-vault.sh generates), as extra vars in a 0600 file.
(umask 077 && "$PY" - "$T/secrets/vars.json" <<PYEOF
import json, sys
json.dump({"vault_mqtt_edge_password": "$EDGE_PW", "vault_mqtt_core_password": "$CORE_PW",
           "vault_mqtt_operator_password": "$OPER_PW", "vault_cluster_secret": "$SECRET",
           "vault_nats_route_password": "$ROUTE_PW", "vault_redis_admin_password": "$ADMIN_PW",
           "vault_redis_app_password": "$APP_PW", "vault_redis_replication_password": "$REPL_PW",
           "vault_redis_sentinel_password": "$SENT_PW", "vault_redis_sentinel_acl_password": "$SENT_ACL_PW"},
          open(sys.argv[1], "w"))
PYEOF
)

# The inventory: the groups of inventory/multi-host.yml, every host this machine.
{
  cat <<YAML
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: /usr/bin/python3
    ansible_become_method: su
    ansible_become_flags: -s /bin/sh
  children:
    brokers:
      vars:
        nats_service_manager: none
        nats_apt_update_cache: false
        nats_bind_address: 127.0.0.1
        nats_tls_enabled: true
        nats_extra_users: [{name: probe, password: "$PROBE_PW", publish: [">"], subscribe: [">"]}]
      hosts:
YAML
  for n in "${BROKERS[@]}"; do
    cat <<YAML
        $n:
          nats_instance: tw-$n
          nats_server_name: $n
          nats_tls_common_name: $n.broker.test
          nats_conf_file: $T/$n/etc/nats-server.conf
          nats_tls_dir: $T/$n/etc/tls
          nats_data_dir: $T/$n/data
          nats_log_file: $T/$n/log/nats-server.log
          nats_pid_file: $T/$n/run/nats-server.pid
          nats_mqtt_port: ${MQTT[$n]}
          nats_route_port: ${ROUTE[$n]}
          nats_client_port: ${CLIENT[$n]}
          nats_monitor_port: ${MON[$n]}
YAML
  done
  cat <<YAML
    redis:
      vars:
        redis_service_manager: none
        redis_apt_update_cache: false
        redis_bind_address: 127.0.0.1
        redis_maxmemory: 64mb
        redis_sentinel_service_manager: none
        redis_sentinel_apt_update_cache: false
        redis_sentinel_packages: [redis-server]
        redis_sentinel_bind_address: 127.0.0.1
      hosts:
YAML
  for n in "${REDISES[@]}"; do
    cat <<YAML
        $n:
          redis_instance: tw-$n
          redis_conf_file: $T/$n/etc/redis.conf
          redis_data_dir: $T/$n/data
          redis_log_file: $T/$n/log/redis-server.log
          redis_pid_file: $T/$n/run/redis-server.pid
          redis_port: ${RPORT[$n]}
          redis_sentinel_instance: tw-$n
          redis_sentinel_conf_file: $T/$n/etc/sentinel.conf
          redis_sentinel_data_dir: $T/$n/sentinel
          redis_sentinel_log_file: $T/$n/log/sentinel.log
          redis_sentinel_pid_file: $T/$n/run/sentinel.pid
          redis_sentinel_port: ${SPORT[$n]}
YAML
  done
  app() { printf '        %s: {chatcast_env_dir: %s, chatcast_user: root, chatcast_group: root, chatcast_port: 0, chatcast_log_level: warn}\n' "$1" "$T/env-$1"; }
  printf '    edges:\n      hosts:\n'
  app e1
  app e2
  printf '    cores:\n      hosts:\n'
  app c1
} >"$T/inventory.yml"

info "temp dir $T; MQTT ports ${MQTT[b1]} ${MQTT[b2]} ${MQTT[b3]}; Redis ${RPORT[r1]} ${RPORT[r2]} ${RPORT[r3]}; Sentinels ${SPORT[r1]} ${SPORT[r2]} ${SPORT[r3]}"

# ------------------------------------------------------ syntax-check + lint
if ansible-playbook -i inventory/multi-host.yml --syntax-check multi-host.yml >"$LOGDIR/syntax.log" 2>&1 &&
  ansible-playbook -i "$T/inventory.yml" --syntax-check tests/multi-host.yml >>"$LOGDIR/syntax.log" 2>&1; then
  pass "ansible-playbook --syntax-check multi-host.yml (inventory/multi-host.yml) and tests/multi-host.yml"
else
  fail "ansible-playbook --syntax-check"
  tail -n 20 "$LOGDIR/syntax.log" | sed 's/^/     | /'
fi
if [ -n "${SKIP_LINT:-}" ]; then info "SKIP_LINT set: no ansible-lint (for quick local runs)"; elif timeout 150 ansible-lint --offline --nocolor --profile production multi-host.yml tests/multi-host.yml vars \
  roles/nats roles/redis_sentinel roles/redis roles/chatcast >"$LOGDIR/lint.log" 2>&1; then
  pass "ansible-lint --profile production multi-host.yml and its roles ($(grep -Eo 'Passed with [a-z]+ profile' "$LOGDIR/lint.log" | head -1 || true))"
else
  fail "ansible-lint --profile production"
  tail -n 40 "$LOGDIR/lint.log" | sed 's/^/     | /'
fi

# ----------------------------------------------------------------- apply
recap() { grep -E "^$2 +:" "$LOGDIR/$1.log" | tail -1; }
apply() { # log-name [ansible-playbook options...]
  local name=$1
  shift
  timeout 240 ansible-playbook -i "$T/inventory.yml" tests/multi-host.yml --skip-tags apps -f 9 \
    -e "@$T/secrets/vars.json" "$@" >"$LOGDIR/$name.log" 2>&1
}
APPLY_START=$(date +%s)
if apply apply1; then
  pass "apply: multi-host.yml's nats, redis and redis_sentinel roles on 9 throw-away nodes, env files for 2 edges and a core ($(($(date +%s) - APPLY_START))s)"
else
  fail "apply failed"
  tail -n 40 "$LOGDIR/apply1.log" | sed 's/^/     | /'
  exit 1
fi

# ------------------------------------------------------------------ NATS
routes() { curl -s --max-time 5 "http://127.0.0.1:${MON[$1]}/routez" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["num_routes"])'; }
cluster_formed() {
  local n i
  for i in $(seq 1 50); do
    for n in "${BROKERS[@]}"; do [ "$(routes "$n" 2>/dev/null)" = 2 ] || continue 2; done
    return 0
  done
  return 1
}
check "NATS: the 3 nodes form one cluster (each has routes to the 2 others)" cluster_formed

CA="$T/env-e1/mqtt-ca.pem"
certs_in() { grep -c -- '-----BEGIN CERTIFICATE-----' "$1"; }
ca_bundle_ok() {
  [ "$(certs_in "$CA")" = 3 ] && ! grep -qF '\n' "$CA" &&
    openssl storeutl -noout -certs "$CA" >/dev/null 2>&1 &&
    [ "$(openssl crl2pkcs7 -nocrl -certfile "$CA" | openssl pkcs7 -print_certs -noout | grep -c '^subject=')" = 3 ]
}
check "TLS: the edges' CA bundle holds the 3 nodes' certificates, one PEM after the other (real newlines)" ca_bundle_ok

mq() { timeout 15 "$@" -h 127.0.0.1 --cafile "$CA"; }
# Round trip: subscriber ($1/$2) on node $5, publisher ($3/$4) on node $6, topic $7.
roundtrip() {
  local tls=(-h 127.0.0.1 --cafile "$CA")
  mqtt_roundtrip "$7" "${tls[@]}" -p "${MQTT[$5]}" -u "$1" -P "$2" -- "${tls[@]}" -p "${MQTT[$6]}" -u "$3" -P "$4"
}
check "MQTT/TLS across nodes: edge user publishes on b2, edge user subscribed on b1 receives (MOL-$NAMESPACE/EVENT/edge-1)" \
  roundtrip chatcast_edge "$EDGE_PW" chatcast_edge "$EDGE_PW" b1 b2 "MOL-$NAMESPACE/EVENT/edge-1"
check "MQTT/TLS across nodes: core user on b3 -> edge user on b1 (MOL-$NAMESPACE/RES/edge-1)" \
  roundtrip chatcast_edge "$EDGE_PW" chatcast_core "$CORE_PW" b1 b3 "MOL-$NAMESPACE/RES/edge-1"
check "MQTT/TLS across nodes: core user on b1 -> operator on b2 on a channel topic" \
  roundtrip operator "$OPER_PW" chatcast_core "$CORE_PW" b2 b1 "$NAMESPACE/channel/c3743620-cc30-11e6-9d9d-cec0c932ce01"

check "MQTT: anonymous client is refused (not authorised)" \
  refused mq mosquitto_pub -p "${MQTT[b1]}" -t "MOL-$NAMESPACE/HEARTBEAT" -m anon
check "MQTT: wrong password is refused (not authorised)" \
  refused mq mosquitto_pub -p "${MQTT[b2]}" -u chatcast_edge -P "wrong-$EDGE_PW" -t "MOL-$NAMESPACE/HEARTBEAT" -m bad
check "MQTT: the edge user with the core user's password is refused (not authorised)" \
  refused mq mosquitto_pub -p "${MQTT[b3]}" -u chatcast_edge -P "$CORE_PW" -t "MOL-$NAMESPACE/HEARTBEAT" -m bad
sub_denied() { # user password topic: the broker refuses the subscription
  local out
  out=$(mq mosquitto_sub -p "${MQTT[b1]}" -u "$1" -P "$2" -t "$3" -C 1 -W 5 2>&1 || true)
  grep -q 'denied' <<<"$out"
}
check "permissions: the edge user may not subscribe to another namespace (MOL-other/#)" sub_denied chatcast_edge "$EDGE_PW" "MOL-other/#"
check "permissions: the core user may not read channel topics (write only)" sub_denied chatcast_core "$CORE_PW" "$NAMESPACE/channel/+"
# Denied publishes: a probe allowed everything, subscribed to # on another node, never gets them.
pub_confined() {
  local out="$LOGDIR/probe.out" marker="end-$RANDOM" i
  timeout 20 mosquitto_sub -h 127.0.0.1 --cafile "$CA" -p "${MQTT[b2]}" -u probe -P "$PROBE_PW" -t '#' -v >"$out" 2>&1 &
  local sub=$!
  BG_PIDS+=("$sub")
  for i in $(seq 1 40); do
    mq mosquitto_pub -p "${MQTT[b1]}" -u probe -P "$PROBE_PW" -t "MOL-$NAMESPACE/EVENT/probe" -m "$marker" >/dev/null 2>&1 || true
    grep -q "$marker" "$out" && break
    sleep 0.25
  done
  grep -q "$marker" "$out" || return 1
  mq mosquitto_pub -p "${MQTT[b1]}" -u chatcast_edge -P "$EDGE_PW" -t "MOL-other/EVENT/x" -m forged-ns
  mq mosquitto_pub -p "${MQTT[b1]}" -u chatcast_edge -P "$EDGE_PW" -t "MOL-$NAMESPACE/OTHER" -m forged-cmd
  mq mosquitto_pub -p "${MQTT[b1]}" -u chatcast_edge -P "$EDGE_PW" -t "MOL-$NAMESPACE/EVENT/a/b" -m forged-deep
  mq mosquitto_pub -p "${MQTT[b1]}" -u operator -P "$OPER_PW" -t "$NAMESPACE/channel/c3743620-cc30-11e6-9d9d-cec0c932ce01" -m forged-channel
  mq mosquitto_pub -p "${MQTT[b1]}" -u probe -P "$PROBE_PW" -t "MOL-$NAMESPACE/EVENT/probe" -m "after-$marker"
  for i in $(seq 1 40); do grep -q "after-$marker" "$out" && break; sleep 0.25; done
  kill "$sub" 2>/dev/null || true
  grep -q "after-$marker" "$out" && ! grep -q forged "$out" &&
    [ "$(grep -c 'Publish Violation' "$T/b1/log/nats-server.log")" -ge 4 ]
}
check "permissions: other namespaces, other commands, deeper levels and the operator's channel publish are dropped (never reach a # subscriber; logged)" pub_confined

# ------------------------------------------------------------------ Redis
rc() { local port=$1; shift; timeout 10 redis-cli -h 127.0.0.1 -p "$port" --no-auth-warning "$@" 2>&1; }
sentinels_agree() {
  local n i view
  for i in $(seq 1 60); do
    for n in "${REDISES[@]}"; do
      [ "$(rc "${SPORT[$n]}" -a "$SENT_PW" SENTINEL get-master-addr-by-name "$NAMESPACE" | tr '\n' ' ')" = "127.0.0.1 ${RPORT[r1]} " ] || { sleep 0.5; continue 2; }
      view=$(rc "${SPORT[$n]}" -a "$SENT_PW" SENTINEL master "$NAMESPACE" | tr '\n' ' ')
      [[ "$view" == *"num-slaves 2 "* && "$view" == *"num-other-sentinels 2 "* ]] || { sleep 0.5; continue 2; }
    done
    return 0
  done
  return 1
}
check "Sentinel: all 3 name r1 (port ${RPORT[r1]}) the master of '$NAMESPACE' and know its 2 replicas and each other" sentinels_agree
check "Sentinel: a client without the password is refused (NOAUTH)" \
  bash -c '[[ "$(timeout 10 redis-cli -h 127.0.0.1 -p "$1" SENTINEL masters 2>&1)" == *NOAUTH* ]]' _ "${SPORT[r2]}"
KEY="$NAMESPACE:ansible-multi-host:$RANDOM"
replicates() {
  local n i
  [ "$(rc "${RPORT[r1]}" --user chatcast --pass "$APP_PW" SET "$KEY" replicated)" = OK ] || return 1
  for n in r2 r3; do
    for i in $(seq 1 40); do
      [ "$(rc "${RPORT[$n]}" --user chatcast --pass "$APP_PW" GET "$KEY")" = replicated ] && continue 2
      sleep 0.25
    done
    return 1
  done
  rc "${RPORT[r1]}" -a "$ADMIN_PW" INFO replication | grep -q '^connected_slaves:2'
}
check "Redis: r2 and r3 replicate r1 (a write on the master is read on both replicas; connected_slaves:2)" replicates
check "Redis: a replica logged in with the replication account (masteruser; link up)" \
  bash -c 'timeout 10 redis-cli -h 127.0.0.1 -p "$1" --no-auth-warning -a "$2" INFO replication | grep -q "^master_link_status:up"' _ "${RPORT[r3]}" "$ADMIN_PW"
check "Redis: the replication account can do nothing else (GET refused: NOPERM)" \
  bash -c '[[ "$(timeout 10 redis-cli -h 127.0.0.1 -p "$1" --no-auth-warning --user replication --pass "$2" GET x 2>&1)" == *NOPERM* ]]' _ "${RPORT[r1]}" "$REPL_PW"

# --------------------------------------------------------------- env files
env_ok() { # host kind first-broker
  env -i bash -c 'set -a; . "$1/chatcast.env"; set +a
    want=""; for n in $4; do want+="${want:+,}mqtts://chatcast_$2:$3@127.0.0.1:$n"; done
    url=$EDGE_MQTT_URL; [ "$2" = core ] && url=$CORE_MQTT_URL
    [ "$url" = "$want" ] && [ -z "${REDIS_URL+set}" ] && [ "$REDIS_SENTINELS" = "$5" ] &&
      [ "$REDIS_SENTINEL_NAME" = chatcast ] && [ "$REDIS_SENTINEL_PASSWORD" = "$6" ] && [ "$REDIS_USERNAME" = chatcast ] &&
      [ "$REDIS_PASSWORD" = "$7" ] && [ "$REDIS_MIN_REPLICAS" = 1 ] && [ "$NODE_EXTRA_CA_CERTS" = "$1/mqtt-ca.pem" ] &&
      [ "$CORE_INSTANCES" = "$8" ]' _ "$T/env-$1" "$2" "$([ "$2" = edge ] && echo "$EDGE_PW" || echo "$CORE_PW")" "$3" \
    "127.0.0.1:${SPORT[r1]},127.0.0.1:${SPORT[r2]},127.0.0.1:${SPORT[r3]}" "$SENT_PW" "$APP_PW" "$4"
}
M1=${MQTT[b1]} M2=${MQTT[b2]} M3=${MQTT[b3]}
check "env e1: EDGE_MQTT_URL lists b1,b2,b3; REDIS_SENTINELS, no REDIS_URL, REDIS_MIN_REPLICAS=1, the CA bundle" env_ok e1 edge "$M1 $M2 $M3" 0
check "env e2: EDGE_MQTT_URL starts at b2 (b2,b3,b1)" env_ok e2 edge "$M2 $M3 $M1" 0
check "env c1: CORE_MQTT_URL starts at b1 (b1,b2,b3), CORE_INSTANCES=1" env_ok c1 core "$M1 $M2 $M3" 1

# ------------------------------------------------- second apply: changed=0
# Of the Redis play only (a full one would double the apply's time): the roles whose files Redis and
# Sentinel rewrite themselves (Sentinel records replicas and peers in its live config).
idempotent() {
  local start host
  start=$(date +%s)
  apply apply2 --tags redis || return 1
  for host in "${REDISES[@]}"; do
    [[ "$(recap apply2 "$host")" =~ changed=0\ .*failed=0\  ]] || {
      echo "     $(recap apply2 "$host")"
      grep -E '^(TASK|RUNNING HANDLER|changed)' "$LOGDIR/apply2.log" | grep -B1 '^changed' | sed 's/^/     | /'
      return 1
    }
  done
  info "second apply: $(($(date +%s) - start))s"
}
check "a second apply of the redis and redis_sentinel roles with the same inputs changes nothing (Sentinel's own rewrites left alone)" idempotent

# ----------------------------------------------- hook: real Chatcast nodes
if [ -n "${CHATCAST_CONNECT_CHECK:-}" ]; then
  info "running CHATCAST_CONNECT_CHECK: a core from c1's env file, an edge from e2's"
  if (export CHATCAST_ENV_FILE="$T/env-c1/chatcast.env" CHATCAST_EDGE_ENV_FILE="$T/env-e2/chatcast.env"
    cd "$ROOT" && bash -c "$CHATCAST_CONNECT_CHECK"); then
    pass "CHATCAST_CONNECT_CHECK (core on b1 first, edge on b2 first; Redis through the Sentinels): $CHATCAST_CONNECT_CHECK"
  else
    fail "CHATCAST_CONNECT_CHECK: $CHATCAST_CONNECT_CHECK"
  fi
fi

# ------------------------------------------------------------- stop daemons
PIDS=()
for n in "${BROKERS[@]}"; do PIDS+=("$(cat "$T/$n/run/nats-server.pid" 2>/dev/null || true)"); done
for n in "${REDISES[@]}"; do PIDS+=("$(cat "$T/$n/run/redis-server.pid" 2>/dev/null || true)" "$(cat "$T/$n/run/sentinel.pid" 2>/dev/null || true)"); done
cleanup
T=""
gone() { local p s; for p in "$@"; do [ -n "$p" ] || return 1; s=$(ps -o stat= -p "$p" 2>/dev/null || true); [ -z "$s" ] || [ "${s#Z}" != "$s" ] || return 1; done; }
check "throw-away daemons stopped by PID (${PIDS[*]})" gone "${PIDS[@]}"
summary
[ "$FAILED" -eq 0 ]
