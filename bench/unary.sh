#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Unary SayHello throughput, latency and server CPU per request: uringrpc vs grpc C++.
#
# Each run starts a fresh server pinned to CPU 0 (uringrpc --shards 1, the grpc C++ peer with
# one thread), warms it up, then drives it with one load client pinned to CPU 1: h2load -t 1,
# or uringrpc-load --cpus 1 (bench/load: the same request bytes via --binary-data, the same
# connections x streams and N, closed loop; as load.sh runs it). Within every round of a
# scenario each client drives each server in turn (h2load: A B, uringrpc-load: A B), for ROUNDS
# rounds; the table shows medians per server and client, the server's CPU per request measured
# the same way (/proc/PID/stat) whichever client drove it.
#
# Environment (defaults in brackets):
#   SERVERS [uringrpc peer]     which servers, in order (see lib.sh; peer-callback also exists)
#   CLIENTS [h2load uringrpc-load]  which load clients, in order (URINGRPC_LOAD: its binary)
#   ROUNDS [3]                  rounds per scenario
#   SCENARIOS [16x32 100x10 1x1]  CONNECTIONSxSTREAMS per connection
#   N_BIG [200000]  N_LAT [20000]  requests per run (N_LAT for 1x1); N overrides both
#   RUN_TIMEOUT [120]           seconds before a client's run is stopped
#   BUILD [1]                   0: use the binaries as they are; else (re)build them first
#   BUILD_DIR [build]  OUT_DIR [BUILD_DIR/bench-results/unary-DATE]  KEEP_LOGS [0]
#   LATENCY_LOG [1]             0: no h2load --log-file (no p50/p99 for h2load, ~10% less
#                               client CPU; uringrpc-load always reports its latencies)
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
CLIENTS=${CLIENTS:-h2load uringrpc-load}

bench_init
resolve_servers
ACTIVE_CLIENTS=()
for client in $CLIENTS; do
  case $client in
  h2load) ACTIVE_CLIENTS+=(h2load) ;;
  uringrpc-load)
    if load_client_init; then
      ACTIVE_CLIENTS+=(uringrpc-load)
      [ -z "$H2LOAD_EXTRA$H2LOAD_HEADERS" ] ||
        log "note: H2LOAD_EXTRA and H2LOAD_HEADERS apply to h2load only, not to uringrpc-load"
    else
      log "SKIP uringrpc-load: $URINGRPC_LOAD not found (cmake --build build --target uringrpc-load, or CLIENTS=h2load)"
    fi
    ;;
  *) die "unknown client '$client' (h2load, uringrpc-load)" ;;
  esac
done
[ ${#ACTIVE_CLIENTS[@]} -gt 0 ] || die "no client to run"
RESULTS=$OUT_DIR/results.tsv
printf 'round\tscenario\tserver\tclient\tn\tsucceeded\tfailed\treq_per_s\tmean_us\tp50_us\tp99_us\tserver_cpu_us_per_req\tclient_cpu_pct\tclient_cpu_us_per_req\n' >"$RESULTS"

{
  echo "date: $(date -Is)  kernel: $(uname -r)  cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
  echo "h2load: $(h2load --version | head -n1)  clk_tck: $CLK_TCK  rounds: $ROUNDS  servers: ${ACTIVE_SERVERS[*]}"
  echo "server cpu $SERVER_CPU, client cpu $CLIENT_CPU; peer: $PEER_BIN --api $PEER_API --threads $PEER_THREADS"
  echo "uringrpc: $URPC_BIN --shards 1 --workers-per-shard $URPC_WORKERS $URPC_ARGS"
  echo "clients: ${ACTIVE_CLIENTS[*]} (h2load -t 1; uringrpc-load: $URINGRPC_LOAD --cpus 1 --binary-data, closed loop)"
} | tee "$OUT_DIR/env.txt" >&2

declare -A CHECKED=()

# run_one ROUND SCENARIO SERVER CLIENT: appends one row to RESULTS.
run_one() {
  local round=$1 scen=$2 name=$3 client=$4
  local c=${scen%x*} m=${scen#*x} n
  if [ -n "${N:-}" ]; then n=$N; elif [ "$scen" = 1x1 ]; then n=$N_LAT; else n=$N_BIG; fi
  [ "$n" -ge "$c" ] || n=$c
  local tag=r$round-$scen-$client
  local row_na
  row_na=$(printf '%s\t%s\t%s\t%s\t%s\t0\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA' "$round" "$scen" "$name" \
    "$client" "$n" "$n")
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

  local out=$OUT_DIR/$name.$tag.out lat=$OUT_DIR/$name.$tag.latency.log rc=0
  [ "$LATENCY_LOG" = 1 ] && [ "$client" = h2load ] || lat=
  local t0 t1
  t0=$(cpu_ticks "$SRV_PID")
  if [ "$client" = h2load ]; then
    h2load_run "$SRV_PORT" "$n" "$c" "$m" "$lat" "$out" || rc=$?
  else
    load_run "$SRV_PORT" "$n" "$c" "$m" "$out" || rc=$?
  fi
  if kill -0 "$SRV_PID" 2>/dev/null; then
    t1=$(cpu_ticks "$SRV_PID")
  else
    log "ERROR: $name died during round $round $scen $client (see $OUT_DIR/$name.$tag.stderr)"
    t1=
  fi
  stop_server
  [ $rc = 0 ] || log "WARNING: $client exited $rc for $name round $round $scen (see $out)"

  local rps='' succ='' stats="NA NA NA" mean p50 p99
  if [ "$client" = h2load ]; then
    read -r rps succ < <(h2load_report "$out") || true
  else
    # uringrpc-load: its latencies of the calls that ended OK (HDR histogram).
    read -r rps succ mean p50 p99 < <(load_report "$out") || true
    stats="${mean:-NA} ${p50:-NA} ${p99:-NA}"
  fi
  if [ -z "$rps" ] || [ -z "$succ" ]; then
    echo "$row_na" >>"$RESULTS"
    return 0
  fi
  # h2load: latency from its per-request log (start_us status duration_us), 2xx only.
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
  local client_pct client_us
  read -r client_pct client_us < <(awk -v s="$succ" '{
    printf "%s %s\n", ($1 > 0 ? sprintf("%.0f", $2 * 100 / $1) : "NA"),
      (s > 0 ? sprintf("%.3f", $2 * 1e6 / s) : "NA") }' "$out.time")
  read -r mean p50 p99 <<<"$stats"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scen" "$name" \
    "$client" "$n" "$succ" $((n - succ)) "$rps" "$mean" "$p50" "$p99" "$cpu_us" "$client_pct" \
    "$client_us" >>"$RESULTS"
  log "  round $round $scen $name <- $client: $rps req/s, p50 ${p50}us p99 ${p99}us, $((n - succ)) failed, $cpu_us us CPU/req, client ${client_pct}% CPU"
  [ "$KEEP_LOGS" = 1 ] || [ -z "$lat" ] || rm -f "$lat"
}

for scen in $SCENARIOS; do
  [[ $scen =~ ^[0-9]+x[0-9]+$ ]] || die "bad scenario '$scen' (want CxM, e.g. 16x32)"
  for round in $(seq "$ROUNDS"); do
    for client in "${ACTIVE_CLIENTS[@]}"; do
      for name in "${ACTIVE_SERVERS[@]}"; do
        [ "${CHECKED[$name]:-}" = bad ] && continue
        run_one "$round" "$scen" "$name" "$client"
      done
    done
  done
done

"$PY" "$BENCH_DIR/summarize_unary.py" "$RESULTS" | tee "$OUT_DIR/summary.txt"
log "raw results: $RESULTS"
