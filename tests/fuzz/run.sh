#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan+UBSan, in build-fuzz/) and runs each for SECONDS
# on a scratch copy of its seed corpus (tests/fuzz/corpus/<target>, never grown in place) with
# its dictionary, then prints one line per target: executions per second, coverage (cov: edges,
# ft: features, from libFuzzer's last stats line) and the verdict. Exits non-zero if any target
# found a crash, leak, UBSan report or timeout; its input and log are kept (paths printed).
#
#   tests/fuzz/run.sh SECONDS [TARGET...]
#
# URPC_FUZZ_JOBS: targets run at once (default 1; each uses one core).
# URPC_FUZZ_KEEP=1: keep the scratch folder (grown corpora) even when all went well.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}
shift
all=(fuzz_h2_conn fuzz_grpc_frame fuzz_timeout fuzz_percent fuzz_base64 fuzz_metadata
     fuzz_compress fuzz_reflection fuzz_tls fuzz_jwt fuzz_authz_policy fuzz_tracecontext
     fuzz_pb_json)
targets=("${@:-${all[@]}}")
jobs=${URPC_FUZZ_JOBS:-1}

cc=${CC:-clang-14}
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
CC=$cc cmake -S . -B build-fuzz -DURPC_FUZZ=ON -DURPC_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j2 --target "${targets[@]}" >/dev/null

scratch=$(mktemp -d /tmp/urpc-fuzz.XXXXXX)
dict_of() {
  case $1 in
  fuzz_h2_conn) echo tests/fuzz/h2.dict ;;
  fuzz_reflection) echo tests/fuzz/reflection.dict ;;
  fuzz_tls) echo tests/fuzz/tls.dict ;;
  fuzz_jwt) echo tests/fuzz/jwt.dict ;;
  fuzz_authz_policy) echo tests/fuzz/authz.dict ;;
  fuzz_tracecontext) echo tests/fuzz/tracecontext.dict ;;
  fuzz_pb_json) echo tests/fuzz/pb_json.dict ;;
  esac
}

run_one() {
  local t=$1 dir=$scratch/$1
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -r tests/fuzz/corpus/"$t"/. "$dir/corpus/"
  local dict
  dict=$(dict_of "$t")
  local rc=0
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    LSAN_OPTIONS=suppressions="$OLDPWD/tests/fuzz/known_bugs.supp":print_suppressions=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$OLDPWD/build-fuzz/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
    ${dict:+-dict="$OLDPWD/$dict"} corpus >"$dir/log" 2>&1) || rc=$?
  echo "$rc" >"$dir/rc"
}

for t in "${targets[@]}"; do
  run_one "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
wait

failed=0
printf '%-16s %10s %8s %8s %8s  %s\n' target execs/s cov ft corpus verdict
for t in "${targets[@]}"; do
  dir=$scratch/$t
  rc=$(cat "$dir/rc")
  last=$(grep -E '^#[0-9]+.*cov: ' "$dir/log" | tail -1 || true)
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.*corp: ([0-9]+).*/\1/p' <<<"$last")
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$dir/log" | tail -1)
  verdict=ok
  if [ "$rc" != 0 ] || grep -qE '^==[0-9]+==ERROR|runtime error:|check failed' "$dir/log"; then
    verdict="FAILED (exit $rc): log $dir/log, input $(ls "$dir"/artifacts/* 2>/dev/null | head -1)"
    failed=1
  fi
  printf '%-16s %10s %8s %8s %8s  %s\n' "$t" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict"
done
if [ "$failed" = 0 ] && [ "${URPC_FUZZ_KEEP:-0}" != 1 ]; then
  rm -rf "$scratch"
else
  echo "fuzz: scratch folder kept: $scratch"
fi
exit "$failed"
