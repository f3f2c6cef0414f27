#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The load clients compared: h2load against uringrpc-load (bench/load), each driving the same
# uringrpc-server with unary.sh's SayHello request at 16 connections x 32 streams.
#
# Each run starts a fresh uringrpc-server (--shards 1) pinned to CPU 0, warms it up, and drives
# it with one client pinned to CPU 1 (h2load -t 1; uringrpc-load --cpus 1): both clients get one
# core, the same one. Clients alternate within every round (h2load, uringrpc-load, h2load, ...)
# for ROUNDS rounds; the table shows medians. For each client: req/s, its CPU time per request
# (user + system of the process, from the shell's `times`), its CPU use, and the server's CPU
# per request (/proc/PID/stat). When the server saturates first, both clients reach about the
# same req/s and the client CPU per request is the honest comparison: the table prints both
# ratios.
#
# uringrpc-load sends the bytes h2load sends (--binary-data, the same HelloRequest), in a closed
# loop (each call's end starts the next on its stream), as h2load does. Debian's h2load is linked
# with jemalloc; "uringrpc-load-jemalloc" is uringrpc-load with jemalloc preloaded
# (LD_PRELOAD=JEMALLOC, libjemalloc2), allocator for allocator, when that library is there.
#
# Environment (defaults in brackets):
#   ROUNDS [3]  SCENARIO [16x32] (CONNECTIONSxSTREAMS)  N [200000] requests per run
#   CLIENTS [h2load uringrpc-load uringrpc-load-jemalloc]
#   JEMALLOC [/usr/lib/x86_64-linux-gnu/libjemalloc.so.2]
#   RUN_TIMEOUT [60]  BUILD [1]  BUILD_DIR [build]  OUT_DIR [BUILD_DIR/bench-results/load-DATE]
#   URINGRPC_LOAD [BUILD_DIR/bench/load/uringrpc-load]
#   PERF [0]  1: one more uringrpc-load run under `perf record` (user space), top symbols printed
#   URPC_ARGS []  extra uringrpc-server flags
set -euo pipefail

BENCH_NAME=load
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
SCENARIO=${SCENARIO:-16x32}
N=${N:-200000}
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
if [ -z "${CLIENTS:-}" ]; then
  CLIENTS="h2load uringrpc-load"
  if [ -r "$JEMALLOC" ]; then
    CLIENTS="$CLIENTS uringrpc-load-jemalloc"
  else
    echo "note: $JEMALLOC not found (libjemalloc2): no uringrpc-load-jemalloc" >&2
  fi
fi
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
PERF=${PERF:-0}
SERVERS=uringrpc
[[ $SCENARIO =~ ^[0-9]+x[0-9]+$ ]] || die "bad SCENARIO '$SCENARIO' (want CxM, e.g. 16x32)"
C=${SCENARIO%x*}
M=${SCENARIO#*x}

bench_init
resolve_servers
load_client_init || die "$URINGRPC_LOAD not found (cmake --build build --target uringrpc-load)"
if [ "$PERF" = 1 ] && ! command -v perf >/dev/null; then
  log "note: PERF=1 but perf is not installed (linux-perf); no profile"
  PERF=0
fi

RESULTS=$OUT_DIR/results.tsv
printf 'round\tclient\tn\tsucceeded\treq_per_s\tclient_cpu_us_per_req\tclient_cpu_pct\tserver_cpu_us_per_req\n' >"$RESULTS"
{
  echo "date: $(date -Is)  kernel: $(uname -r)  cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
  echo "h2load: $(h2load --version | head -n1)  clk_tck: $CLK_TCK  rounds: $ROUNDS  scenario: ${C}x${M}  n: $N"
  echo "server: $URPC_BIN --shards 1 $URPC_ARGS on cpu $SERVER_CPU; clients on cpu $CLIENT_CPU"
  echo "uringrpc-load: $URINGRPC_LOAD --cpus 1 -c $C -m $M --binary-data (closed loop); clients: $CLIENTS"
} | tee "$OUT_DIR/env.txt" >&2

run_one() {
  local round=$1 client=$2 tag=r$1
  local na
  na=$(printf '%s\t%s\t%s\t0\tNA\tNA\tNA\tNA' "$round" "$client" "$N")
  if ! start_server uringrpc "$client.$tag"; then
    echo "$na" >>"$RESULTS"
    return 0
  fi
  warmup "$SRV_PORT" "$C" "$M"
  local out=$OUT_DIR/$client.$tag.out rc=0 t0 t1
  t0=$(cpu_ticks "$SRV_PID")
  if [ "$client" = h2load ]; then
    RUN_TIMEOUT=$RUN_TIMEOUT h2load_run "$SRV_PORT" "$N" "$C" "$M" "" "$out" || rc=$?
  elif [ "$client" = uringrpc-load-jemalloc ]; then
    load_run "$SRV_PORT" "$N" "$C" "$M" "$out" env LD_PRELOAD="$JEMALLOC" || rc=$?
  else
    load_run "$SRV_PORT" "$N" "$C" "$M" "$out" || rc=$?
  fi
  t1=$(cpu_ticks "$SRV_PID" 2>/dev/null || echo "")
  stop_server
  [ $rc = 0 ] || log "WARNING: $client exited $rc in round $round (see $out)"
  local rps='' succ='' _
  if [ "$client" = h2load ]; then
    read -r rps succ < <(h2load_report "$out") || true
  else
    read -r rps succ _ < <(load_report "$out") || true
  fi
  if [ -z "${rps:-}" ] || [ -z "${succ:-}" ] || [ "$succ" = 0 ]; then
    echo "$na" >>"$RESULTS"
    return 0
  fi
  local srv_us=NA cli_us cli_pct
  if [ -n "$t1" ]; then
    srv_us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$succ" 'BEGIN {printf "%.3f", d * 1e6 / hz / s}')
  fi
  read -r cli_us cli_pct < <(awk -v s="$succ" '{ printf "%.3f %.0f\n", $2 * 1e6 / s, ($1 > 0 ? $2 * 100 / $1 : 0) }' "$out.time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$client" "$N" "$succ" "$rps" "$cli_us" \
    "$cli_pct" "$srv_us" >>"$RESULTS"
  log "  round $round $client: $rps req/s, $succ ok, client $cli_us us CPU/req ($cli_pct% CPU), server $srv_us us CPU/req"
}

for round in $(seq "$ROUNDS"); do
  for client in $CLIENTS; do
    case $client in
    h2load | uringrpc-load | uringrpc-load-jemalloc) run_one "$round" "$client" ;;
    *) die "unknown client '$client' (h2load, uringrpc-load, uringrpc-load-jemalloc)" ;;
    esac
  done
done

"$PY" "$BENCH_DIR/summarize_load.py" "$RESULTS" | tee "$OUT_DIR/summary.txt"

if [ "$PERF" = 1 ]; then
  log "profiling uringrpc-load (perf record, user space, one more run)"
  if start_server uringrpc perf; then
    warmup "$SRV_PORT" "$C" "$M"
    load_run "$SRV_PORT" "$N" "$C" "$M" "$OUT_DIR/perf.out" perf record -q -e cycles:u -F 2999 -g \
      -o "$OUT_DIR/perf.data" -- || log "note: the profiled run exited non-zero"
    stop_server
    {
      echo "uringrpc-load's samples by library, then its top symbols (user space):"
      perf report -i "$OUT_DIR/perf.data" --stdio --no-children -g none --sort dso 2>/dev/null |
        grep -E '^ +[0-9]'
      perf report -i "$OUT_DIR/perf.data" --stdio --no-children -g none --sort dso,symbol \
        2>/dev/null | grep -E '^ +[0-9]' | head -n 25
    } | tee "$OUT_DIR/perf-top.txt"
  fi
fi
log "raw results: $RESULTS"
