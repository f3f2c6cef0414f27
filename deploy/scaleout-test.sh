#!/usr/bin/env bash
# Scale-out test (issue 10, part 4): uringrpc-server replicas behind a real load balancer and
# behind grpc's client-side round_robin. One command, about 75 s here, bounded (270 s):
#
#   deploy/scaleout-test.sh            # exit 0 when every part passed, 1 otherwise
#
#   1  30,000 unary calls through nginx (grpc_pass to 3 replicas, HTTP/2 upstream keepalive):
#      each replica's served-call count (its /metrics grpc_server_handled_total) within ±20 %
#      of the mean;
#   2  rolling restart behind nginx under a steady grpcio load (600 calls/s, 24 s): every
#      replica replaced in turn, by three procedures — lb-first (replacement up on a new port,
#      nginx reloaded with the new upstream list, old one SIGTERMed at once), term-first (old
#      one SIGTERMed, nginx reloaded 0.5 s later) and same-port (old one SIGTERMed, the
#      replacement started on its address once it exited, no reload): zero failed calls;
#   3a grpcio round_robin over the replicas' addresses (ipv4: list): ±20 %;
#   3b a replica added later reaches a long-lived round_robin channel (name resolved through
#      a DNS stub, as from a headless Service) within --max-connection-age + grace, and never
#      without --max-connection-age (control).
#
# Every replica runs --shards 1 with ports chosen at run time (port 0, read from the startup
# line), on 127.0.0.1 — except in part 3b, whose replicas listen on 127.0.0.2-5 (loopback too):
# DNS A records carry addresses, not ports, so replicas behind one name differ by address and
# share a port, as pods behind a headless Service do. nginx runs as the invoking user from a temporary prefix
# (`nginx -p DIR -c DIR/nginx.conf`, daemon off, pid and logs in DIR). Everything started is
# recorded by PID and stopped by PID on exit. The work directory (logs, nginx config and
# access log) is removed after a pass and kept after a failure (SCALEOUT_KEEP=1 keeps it).
#
# Needs: the server build (built here if missing: cmake Release, target uringrpc-server),
# nginx (Debian: nginx, 1.22), /usr/bin/python3 with python3-grpcio, protoc and
# /usr/bin/grpc_python_plugin. Environment: SERVER (binary), NGINX (binary), SCALEOUT_ARGS
# (extra arguments for deploy/scaleout/scaleout.py, e.g. "--parts 2 --rate2 2500"; --help).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
server=${SERVER:-$root/build/examples/uringrpc-server}
nginx=${NGINX:-$(command -v nginx || true)}
[ -n "$nginx" ] || { [ -x /usr/sbin/nginx ] && nginx=/usr/sbin/nginx; } || true

die() { echo "scaleout-test: $*" >&2; exit 1; }

[ -n "$nginx" ] && [ -x "$nginx" ] ||
  die "nginx not found: install Debian's nginx (apt-get install --no-install-recommends nginx) or set NGINX"
"$nginx" -V 2>&1 | grep -q -- '--without-http_grpc_module' && die "$nginx lacks the grpc module"
/usr/bin/python3 -c 'import grpc' 2>/dev/null ||
  die "/usr/bin/python3 has no grpc module: apt-get install python3-grpcio"
command -v protoc >/dev/null && [ -x /usr/bin/grpc_python_plugin ] ||
  die "protoc or /usr/bin/grpc_python_plugin missing: apt-get install protobuf-compiler protobuf-compiler-grpc"
if [ ! -x "$server" ]; then
  [ -z "${SERVER:-}" ] || die "SERVER=$server is not an executable"
  echo "scaleout-test: building uringrpc-server (Release) in $root/build" >&2
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j2 --target uringrpc-server >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/uringrpc-scaleout.XXXXXX")
pidfile=$work/pids
: >"$pidfile"
status=1

# Stops whatever scaleout.py left running (it stops its own processes itself; this is for a
# crash or a SIGKILL of it): each recorded PID whose start time still matches, never by name.
cleanup() {
  local pid start kind now left=()
  while read -r pid start kind; do
    now=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null || true)
    [ -n "$now" ] && [ "$now" = "$start" ] || continue
    kill -TERM "$pid" 2>/dev/null && left+=("$pid")
  done <"$pidfile"
  for _ in $(seq 50); do
    local alive=()
    for pid in "${left[@]}"; do [ -d "/proc/$pid" ] && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && break
    left=("${alive[@]}")
    sleep 0.1
  done
  for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "$status" -eq 0 ] && [ "${SCALEOUT_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "scaleout-test: logs, nginx config and access log kept in $work" >&2
  fi
}
trap cleanup EXIT

mkdir -p "$work/stubs"
protoc -I"$root/proto" --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \
  --python_out="$work/stubs" --grpc_python_out="$work/stubs" helloworld.proto

# In the background so that a signal to this script is handled at once: it is passed on to
# scaleout.py, which stops what it started and prints its summary.
# shellcheck disable=SC2086
/usr/bin/python3 "$root/deploy/scaleout/scaleout.py" --server "$server" --nginx "$nginx" \
  --stubs "$work/stubs" --work "$work" --pidfile "$pidfile" ${SCALEOUT_ARGS:-} &
py=$!
trap 'kill -TERM "$py" 2>/dev/null; wait "$py" || true; exit 143' TERM INT HUP
wait "$py" && status=0 || status=$?
exit "$status"
