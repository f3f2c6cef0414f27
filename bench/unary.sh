#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Unary SayHello throughput, latency and server CPU per request: uringrpc vs grpc C++.
#
# Each run starts a fresh server pinned to CPU 0 (uringrpc --shards 1, the grpc C++ peer with
# one thread), warms it up, then drives it with h2load pinned to CPU 1. Servers alternate
# within every scenario (A B A B ...) for ROUNDS rounds; the table shows medians.
#
# Environment (defaults in brackets):
#   SERVERS [uringrpc peer]     which servers, in order (see lib.sh; peer-callback also exists)
#   ROUNDS [3]                  rounds per scenario
#   SCENARIOS [16x32 100x10 1x1]  CONNECTIONSxSTREAMS per connection
#   N_BIG [200000]  N_LAT [20000]  requests per run (N_LAT for 1x1); N overrides both
#   RUN_TIMEOUT [120]           seconds before an h2load run is stopped
#   BUILD [1]                   0: use the binaries as they are; else (re)build them first
#   BUILD_DIR [build]  OUT_DIR [BUILD_DIR/bench-results/unary-DATE]  KEEP_LOGS [0]
#   LATENCY_LOG [1]             0: no h2load --log-file (no p50/p99, ~10% less client CPU)
#   PEER_API [async]  PEER_THREADS [1]  URPC_WORKERS [0]  URPC_ARGS []
set -euo pipefail

BENCH_NAME=unary
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-16x32 100x10 1x1}
N_BIG=${N_BIG:-200000}
N_LAT=${N_LAT:-20000}
KEEP_LOGS=${KEEP_LOGS:-0}
LATENCY_LOG=${LATENCY_LOG:-1}
CHECK=${CHECK:-1}

bench_init
resolve_servers
RESULTS=$OUT_DIR/results.tsv
printf 'round\tscenario\tserver\tn\tsucceeded\tfailed\treq_per_s\tmean_us\tp50_us\tp99_us\tserver_cpu_us_per_req\tclient_cpu_pct\n' >"$RESULTS"

{
  echo "date: $(date -Is)  kernel: $(uname -r)  cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
  echo "h2load: $(h2load --version | head -n1)  clk_tck: $CLK_TCK  rounds: $ROUNDS  servers: ${ACTIVE_SERVERS[*]}"
  echo "server cpu $SERVER_CPU, client cpu $CLIENT_CPU; peer: $PEER_BIN --api $PEER_API --threads $PEER_THREADS"
  echo "uringrpc: $URPC_BIN --shards 1 --workers-per-shard $URPC_WORKERS $URPC_ARGS"
} | tee "$OUT_DIR/env.txt" >&2

declare -A CHECKED=()

# run_one ROUND SCENARIO SERVER: appends one row to RESULTS.
run_one() {
  local round=$1 scen=$2 name=$3
  local c=${scen%x*} m=${scen#*x} n
  if [ -n "${N:-}" ]; then n=$N; elif [ "$scen" = 1x1 ]; then n=$N_LAT; else n=$N_BIG; fi
  [ "$n" -ge "$c" ] || n=$c
  local tag=r$round-$scen
  local row_na
  row_na=$(printf '%s\t%s\t%s\t%s\t0\t%s\tNA\tNA\tNA\tNA\tNA\tNA' "$round" "$scen" "$name" "$n" "$n")
  if ! start_server "$name" "$tag"; then
    echo "$row_na" >>"$RESULTS"
    return 0
  fi
  if [ "$CHECK" = 1 ] && [ -z "${CHECKED[$name]:-}" ]; then
    if ! grpc_check "$SRV_PORT"; then
      log "ERROR: $name gave a wrong SayHello reply; dropping it from this run"
      stop_server
      CHECKED[$name]=bad
      return 0
    fi
    CHECKED[$name]=ok
  fi
  warmup "$SRV_PORT" "$c" "$m"

  local out=$OUT_DIR/$name.$tag.h2load lat=$OUT_DIR/$name.$tag.latency.log rc=0
  [ "$LATENCY_LOG" = 1 ] || lat=
  local t0 t1
  t0=$(cpu_ticks "$SRV_PID")
  h2load_run "$SRV_PORT" "$n" "$c" "$m" "$lat" "$out" || rc=$?
  if kill -0 "$SRV_PID" 2>/dev/null; then
    t1=$(cpu_ticks "$SRV_PID")
  else
    log "ERROR: $name died during round $round $scen (see $OUT_DIR/$name.$tag.stderr)"
    t1=
  fi
  stop_server
  [ $rc = 0 ] || log "WARNING: h2load exited $rc for $name round $round $scen (see $out)"

  local rps succ
  rps=$(sed -n -E 's/^finished in .*, ([0-9.]+) req\/s,.*/\1/p' "$out")
  succ=$(sed -n -E 's/^requests: .* ([0-9]+) succeeded,.*/\1/p' "$out")
  if [ -z "$rps" ] || [ -z "$succ" ]; then
    echo "$row_na" >>"$RESULTS"
    return 0
  fi
  # Latency from h2load's per-request log (start_us status duration_us), 2xx only.
  local stats="NA NA NA"
  if [ -n "$lat" ] && [ -s "$lat" ]; then
    stats=$(awk '$2 >= 200 && $2 < 300 {print $3}' "$lat" | sort -n | awk '
      { v[NR] = $1; s += $1 }
      END {
        if (NR == 0) { print "NA NA NA"; exit }
        i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; if (i50 < 1) i50 = 1
        i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++; if (i99 < 1) i99 = 1
        printf "%.1f %d %d\n", s / NR, v[i50], v[i99]
      }')
  fi
  local cpu_us=NA
  if [ -n "$t1" ] && [ "$succ" -gt 0 ]; then
    cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$succ" 'BEGIN {printf "%.3f", d * 1e6 / hz / s}')
  fi
  local client_pct
  client_pct=$(awk '{ if ($1 > 0) printf "%.0f", $2 * 100 / $1; else print "NA" }' "$out.time")
  local mean p50 p99
  read -r mean p50 p99 <<<"$stats"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scen" "$name" "$n" "$succ" \
    $((n - succ)) "$rps" "$mean" "$p50" "$p99" "$cpu_us" "$client_pct" >>"$RESULTS"
  log "  round $round $scen $name: $rps req/s, p50 ${p50}us p99 ${p99}us, $((n - succ)) failed, $cpu_us us CPU/req, client ${client_pct}% CPU"
  [ "$KEEP_LOGS" = 1 ] || [ -z "$lat" ] || rm -f "$lat"
}

for scen in $SCENARIOS; do
  [[ $scen =~ ^[0-9]+x[0-9]+$ ]] || die "bad scenario '$scen' (want CxM, e.g. 16x32)"
  for round in $(seq "$ROUNDS"); do
    for name in "${ACTIVE_SERVERS[@]}"; do
      [ "${CHECKED[$name]:-}" = bad ] && continue
      run_one "$round" "$scen" "$name"
    done
  done
done

"$PY" "$BENCH_DIR/summarize_unary.py" "$RESULTS" | tee "$OUT_DIR/summary.txt"
log "raw results: $RESULTS"
