#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Streaming throughput and bidi ping-pong latency: uringrpc vs grpc C++, same load client.
#
# Each run starts a fresh server pinned to CPU 0 (uringrpc --shards 1, the grpc C++ peer with
# one thread), warms it up, then drives grpc.testing.TestService with bench/stream_load pinned
# to CPU 1. Servers alternate within every scenario (A B A B ...) for ROUNDS rounds; the table
# shows medians and the ratios uringrpc/peer.
#
# Scenarios (SCENARIOS):
#   stream1    one StreamingOutputCall asking for N_STREAM responses of MSG_SIZE payload bytes
#   stream16   16 concurrent StreamingOutputCalls on one connection, N_STREAM/16 responses each
#   pingpong   one FullDuplexCall, N_PINGPONG round trips of one MSG_SIZE request and response
# (streamC, C in 1..1024, runs C concurrent calls; all share one connection.)
#
# Environment (defaults in brackets):
#   SERVERS [uringrpc peer]     which servers, in order (see lib.sh; peer-callback also exists)
#   ROUNDS [3]                  rounds per scenario
#   SCENARIOS [stream1 stream16 pingpong]
#   N_STREAM [1000000]          messages per streaming run (one call carries at most ~1M of
#                               10 B: its request holds 4 bytes per response, limit 4 MiB)
#   N_PINGPONG [20000]  PINGPONG_WARMUP [200]  MSG_SIZE [10]
#   RUN_TIMEOUT [120]           seconds before a load run is stopped (it then counts as failed)
#   BUILD [1]  BUILD_DIR [build]  OUT_DIR [BUILD_DIR/bench-results/streaming-DATE]
#   PEER_API [async]  PEER_THREADS [1]  URPC_WORKERS [0]  URPC_ARGS []  LOAD_BIN  LOAD_ARGS []
set -euo pipefail

BENCH_NAME=streaming
BENCH_TOOLS="taskset timeout getconf"
NEED_LOAD=1
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-stream1 stream16 pingpong}
N_STREAM=${N_STREAM:-1000000}
N_PINGPONG=${N_PINGPONG:-20000}
PINGPONG_WARMUP=${PINGPONG_WARMUP:-200}
MSG_SIZE=${MSG_SIZE:-10}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
LOAD_ARGS=${LOAD_ARGS:-}
CHECK=${CHECK:-1}

bench_init
resolve_servers
RESULTS=$OUT_DIR/results.tsv
printf 'round\tscenario\tserver\tcalls\tmessages\tsize\tok\tmsgs_per_s\tsteady_msgs_per_s\tfirst_msg_ms\tmean_us\tp50_us\tp99_us\tserver_cpu_us_per_msg\tclient_cpu_pct\n' >"$RESULTS"

{
  echo "date: $(date -Is)  kernel: $(uname -r)  cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
  echo "load client: $LOAD_BIN $LOAD_ARGS  clk_tck: $CLK_TCK  rounds: $ROUNDS  servers: ${ACTIVE_SERVERS[*]}"
  echo "server cpu $SERVER_CPU, client cpu $CLIENT_CPU; peer: $PEER_BIN --api $PEER_API --threads $PEER_THREADS"
  echo "uringrpc: $URPC_BIN --shards 1 --workers-per-shard $URPC_WORKERS $URPC_ARGS"
  echo "scenarios: $SCENARIOS  N_STREAM=$N_STREAM N_PINGPONG=$N_PINGPONG (+$PINGPONG_WARMUP warm-up) MSG_SIZE=$MSG_SIZE"
} | tee "$OUT_DIR/env.txt" >&2

# One StreamingOutputCall and one FullDuplexCall through grpcio, an independent client, so a
# server whose streams stream_load would misjudge is caught before it is measured.
stream_check() {
  local port=$1
  timeout 20 "$PY" - "$port" <<'EOF'
import sys
try:
    import grpc
except ImportError:
    print("note: python3-grpcio missing, streams not checked", file=sys.stderr)
    sys.exit(0)
# StreamingOutputCallRequest{response_parameters: [{size: n}, ...]} and the responses
# StreamingOutputCallResponse{payload: {body: n zero bytes}}, encoded by hand (no stubs needed).
def req(*sizes):
    return b"".join(b"\x12\x02\x08" + bytes([n]) for n in sizes)
def resp(n):
    return b"\x0a" + bytes([n + 2]) + b"\x12" + bytes([n]) + b"\x00" * n
with grpc.insecure_channel("127.0.0.1:" + sys.argv[1]) as ch:
    got = list(ch.unary_stream("/grpc.testing.TestService/StreamingOutputCall")(
        req(1, 10, 100), timeout=10))
    if got != [resp(1), resp(10), resp(100)]:
        sys.exit("StreamingOutputCall: unexpected responses %r" % got)
    got = list(ch.stream_stream("/grpc.testing.TestService/FullDuplexCall")(
        iter([req(3), req(5, 7)]), timeout=10))
    if got != [resp(3), resp(5), resp(7)]:
        sys.exit("FullDuplexCall: unexpected responses %r" % got)
EOF
}

# load_run OUTFILE ARGS...: one bounded stream_load run pinned to CLIENT_CPU, in the background
# so that a signal to this script is handled at once (see h2load_run in lib.sh).
load_run() {
  local outfile=$1 rc=0 pid extra=()
  shift
  read -r -a extra <<<"$LOAD_ARGS"
  timeout -k 5 $((RUN_TIMEOUT + 10)) taskset -c "$CLIENT_CPU" \
    "$LOAD_BIN" "$@" --timeout "$RUN_TIMEOUT" ${extra[@]+"${extra[@]}"} >"$outfile" 2>&1 &
  pid=$!
  STARTED_PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return $rc
}

# Value of key=$2 in stream_load's output line in file $1 (empty if absent).
field() { sed -n -E "s/^mode=.* $2=([^ ]+).*/\\1/p" "$1" | head -n1; }

declare -A CHECKED=()

# run_one ROUND SCENARIO SERVER: appends one row to RESULTS.
run_one() {
  local round=$1 scen=$2 name=$3
  local calls=1 n
  if [ "$scen" = pingpong ]; then
    n=$N_PINGPONG
  else
    calls=${scen#stream}
    n=$N_STREAM
    [ "$n" -ge "$calls" ] || n=$calls
  fi
  local tag=r$round-$scen
  local row_na
  row_na=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t0\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA' "$round" "$scen" \
    "$name" "$calls" "$n" "$MSG_SIZE")
  if ! start_server "$name" "$tag"; then
    echo "$row_na" >>"$RESULTS"
    return 0
  fi
  local args
  if [ "$scen" = pingpong ]; then
    args=(pingpong --port "$SRV_PORT" --rounds "$n" --warmup "$PINGPONG_WARMUP" --size "$MSG_SIZE")
  else
    args=(stream --port "$SRV_PORT" --calls "$calls" --messages "$n" --size "$MSG_SIZE")
  fi
  if [ "$CHECK" = 1 ] && [ -z "${CHECKED[$name]:-}" ]; then
    if ! stream_check "$SRV_PORT"; then
      log "ERROR: $name gave wrong streaming replies; dropping it from this run"
      stop_server
      CHECKED[$name]=bad
      return 0
    fi
    CHECKED[$name]=ok
  fi
  # Warm-up: a short run of the same kind (connections, allocator, caches).
  local warm=$OUT_DIR/warmup.out
  if [ "$scen" = pingpong ]; then
    RUN_TIMEOUT=20 load_run "$warm" pingpong --port "$SRV_PORT" --rounds 1000 --size "$MSG_SIZE" ||
      log "note: warm-up of $name exited non-zero (see $warm)"
  else
    RUN_TIMEOUT=20 load_run "$warm" stream --port "$SRV_PORT" --calls "$calls" \
      --messages $((calls > 20000 ? calls : 20000)) --size "$MSG_SIZE" ||
      log "note: warm-up of $name exited non-zero (see $warm)"
  fi

  local out=$OUT_DIR/$name.$tag.load rc=0 t0 t1
  t0=$(cpu_ticks "$SRV_PID")
  load_run "$out" "${args[@]}" || rc=$?
  if kill -0 "$SRV_PID" 2>/dev/null; then
    t1=$(cpu_ticks "$SRV_PID")
  else
    log "ERROR: $name died during round $round $scen (see $OUT_DIR/$name.$tag.stderr)"
    t1=
  fi
  stop_server
  if [ $rc != 0 ]; then
    log "ERROR: stream_load exited $rc for $name round $round $scen: $(tail -n 2 "$out" | tr '\n' ' ')"
    echo "$row_na" >>"$RESULTS"
    return 0
  fi

  local msgs cpu_us=NA rate steady first mean p50 p99 client
  if [ "$scen" = pingpong ]; then
    msgs=$((n + PINGPONG_WARMUP)) # round trips, each one response message
    rate=$(field "$out" rtt_per_s)
    steady=NA first=NA
    mean=$(field "$out" mean_us) p50=$(field "$out" p50_us) p99=$(field "$out" p99_us)
  else
    msgs=$(field "$out" received)
    rate=$(field "$out" msgs_per_s)
    steady=$(field "$out" steady_msgs_per_s)
    first=$(field "$out" first_msg_ms)
    mean=NA p50=NA p99=NA
  fi
  client=$(field "$out" client_cpu_pct)
  if [ -z "$rate" ] || [ -z "$msgs" ]; then
    echo "$row_na" >>"$RESULTS"
    return 0
  fi
  if [ -n "$t1" ] && [ "$msgs" -gt 0 ]; then
    cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$msgs" 'BEGIN {printf "%.3f", d * 1e6 / hz / s}')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scen" "$name" \
    "$calls" "$n" "$MSG_SIZE" "$rate" "$steady" "$first" "$mean" "$p50" "$p99" "$cpu_us" \
    "$client" >>"$RESULTS"
  if [ "$scen" = pingpong ]; then
    log "  round $round $scen $name: $rate round trips/s, mean ${mean}us p50 ${p50}us p99 ${p99}us, $cpu_us us CPU/round trip, client ${client}% CPU"
  else
    log "  round $round $scen $name: $rate msgs/s (steady $steady, first message after ${first} ms), $cpu_us us CPU/msg, client ${client}% CPU"
  fi
}

for scen in $SCENARIOS; do
  if [ "$scen" != pingpong ]; then
    if ! [[ $scen =~ ^stream([1-9][0-9]*)$ ]] || [ "${BASH_REMATCH[1]}" -gt 1024 ]; then
      die "bad scenario '$scen' (stream1, stream16, streamC with C <= 1024, pingpong)"
    fi
  fi
  for round in $(seq "$ROUNDS"); do
    for name in "${ACTIVE_SERVERS[@]}"; do
      [ "${CHECKED[$name]:-}" = bad ] && continue
      run_one "$round" "$scen" "$name"
    done
  done
done

"$PY" "$BENCH_DIR/summarize_streaming.py" "$RESULTS" | tee "$OUT_DIR/summary.txt"
log "raw results: $RESULTS"
