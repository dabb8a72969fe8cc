# Shared by the ansible checks (run.sh, multi-host.sh): counters, check(), the summary line, stopping a
# daemon by its pid file, free ports and random secrets. Source it after `set -euo pipefail`.
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

rand() { "$PY" -c 'import secrets; print(secrets.token_hex(20))'; }
