# Shared by the ansible checks (run.sh, multi-host.sh): counters, check(), the summary line, stopping a
# daemon by its pid file, free ports and random secrets. Source it after `set -euo pipefail`.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ANSIBLE_DIR="$ROOT/ansible"
NAMESPACE=chatcast
T=""
BG_PIDS=()
PASSED=0
FAILED=0
SUMMARY_DONE=0
STARTED_AT=$(date +%s)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
info() { echo "---- $*"; }
# check "description" command... : counts the command's exit status.
check() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

summary() {
  [ "$SUMMARY_DONE" = 1 ] && return 0
  SUMMARY_DONE=1
  echo "(took $(($(date +%s) - STARTED_AT))s)"
  echo "$PASSED passed, $FAILED failed"
}

# The EXIT trap: the script's own cleanup(), then the summary; the exit status is 1 if any check failed.
on_exit() {
  local rc=$?
  cleanup
  if [ "$SUMMARY_DONE" != 1 ]; then
    if [ "$rc" != 0 ] && [ "$FAILED" = 0 ]; then fail "aborted (exit status $rc)"; fi
    summary
  fi
  if [ "$FAILED" -gt 0 ]; then exit 1; fi
  exit "$rc"
}

# Stop a daemon this script started: only the PID recorded in *our* pid file,
# and only if that PID really runs the expected binary.
stop_by_pidfile() {
  local pidfile=$1 exe=$2
  [ -f "$pidfile" ] || return 0
  start-stop-daemon --stop --quiet --oknodo --retry TERM/10/KILL/5 \
    --pidfile "$pidfile" --exec "$exe" >/dev/null 2>&1 || true
}

# free_ports N: N distinct free loopback ports (bound together, then released).
free_ports() {
  "$PY" - "$1" <<'PYEOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PYEOF
}

refused() { # command... : must fail with "not authorised"
  local out
  if out=$("$@" 2>&1); then return 1; fi
  grep -qi 'not authori[sz]ed' <<<"$out"
}

# mqtt_roundtrip TOPIC SUBSCRIBER-OPTIONS... -- PUBLISHER-OPTIONS...: a mosquitto_sub with the first options
# receives what a mosquitto_pub with the others publishes on TOPIC (QoS 1, retried until it arrives).
mqtt_roundtrip() {
  local topic=$1 msg out i sub
  shift
  local sub_opts=() pub_opts=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do sub_opts+=("$1"); shift; done
  [ "$#" -gt 0 ] && shift
  pub_opts=("$@")
  msg="rt-$RANDOM-$RANDOM"
  out="$LOGDIR/rt-$RANDOM.out"
  timeout 15 mosquitto_sub "${sub_opts[@]}" -t "$topic" -C 1 -v >"$out" 2>&1 &
  sub=$!
  BG_PIDS+=("$sub")
  for i in $(seq 1 40); do
    timeout 15 mosquitto_pub "${pub_opts[@]}" -t "$topic" -m "$msg" -q 1 >/dev/null 2>&1 || true
    kill -0 "$sub" 2>/dev/null || break
    sleep 0.2
  done
  wait "$sub" 2>/dev/null || true
  grep -qx -- "$topic $msg" "$out"
}

rand() { "$PY" -c 'import secrets; print(secrets.token_hex(20))'; }

# make_temp_dir PREFIX: ansible's settings for the checks, cd to ansible/, and T (the temp dir, which the
# daemons' users must traverse) with T/secrets (0700) and LOGDIR=T/out.
make_temp_dir() {
  export ANSIBLE_CONFIG="$ANSIBLE_DIR/ansible.cfg"
  export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
  export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
  cd "$ANSIBLE_DIR"
  T=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 0711 "$T"
  mkdir -m 0700 "$T/secrets" "$T/out"
  LOGDIR="$T/out"
}
