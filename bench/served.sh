# shellcheck shell=bash
# check_served SCRIPT DIR: every uringrpc run under DIR (its exit stats, *.stdout) answered
# calls and failed none — h2load counts a gRPC error as a success, so a failed call would mean
# the numbers measured something else. Prints one line per bad run; returns 1 if any.
check_served() {
  local script=$1 dir=$2 bad=0 f failed ok
  for f in "$dir"/uringrpc*.stdout; do
    [ -e "$f" ] || continue
    failed=$(awk '/^shard [0-9]+ / { for (i = 1; i <= NF; i++) if ($i ~ /^failed=/) { sub("failed=", "", $i); s += $i } } END { print s + 0 }' "$f")
    ok=$(awk '/^shard [0-9]+ / { for (i = 1; i <= NF; i++) if ($i ~ /^ok=/) { sub("ok=", "", $i); s += $i } } END { print s + 0 }' "$f")
    if [ "$failed" != 0 ] || [ "$ok" = 0 ]; then
      echo "$script: $(basename "$f"): ok=$ok failed=$failed: calls were not served" >&2
      bad=1
    fi
  done
  return $bad
}
