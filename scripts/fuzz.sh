#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan+UBSan) and runs each for SECONDS.
#   scripts/fuzz.sh [SECONDS] [NAME...]      (default: 300 s each, every harness)
# Each harness starts from its committed seeds (fuzz/corpus/NAME) plus what earlier runs found
# ($FUZZ_DIR/corpus/NAME, not committed). A crash leaves its input in $FUZZ_DIR/crashes/NAME.
# FUZZ_ARGS adds libFuzzer options (e.g. -runs=10000000 to stop after that many runs).
# Prints one line per harness (runs, runs/s, edges covered, corpus size) and ends with
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-300}
shift || true
FUZZ_DIR=$(realpath -m "${FUZZ_DIR:-build-fuzz}")
ALL=(jsonrpc sse http_request config fence naming)
NAMES=("$@")
[ ${#NAMES[@]} -eq 0 ] && NAMES=("${ALL[@]}")

if [ ! -f "$FUZZ_DIR/build.ninja" ]; then
  CXX=clang++-14 cmake -S . -B "$FUZZ_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMCPGW_FUZZ=ON >/dev/null || exit 1
fi
cmake --build "$FUZZ_DIR" --target fuzzers -j "$(nproc)" >"$FUZZ_DIR/build.log" 2>&1 || {
  tail -30 "$FUZZ_DIR/build.log"
  echo "0 passed, 1 failed"
  exit 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0
fail=0
for name in "${NAMES[@]}"; do
  corpus="$FUZZ_DIR/corpus/$name"
  crashes="$FUZZ_DIR/crashes/$name"
  log="$FUZZ_DIR/$name.log"
  mkdir -p "$corpus" "$crashes"
  "$FUZZ_DIR/fuzz/${name}_fuzz" "$corpus" "fuzz/corpus/$name" \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} >"$log" 2>&1
  rc=$?
  runs=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$log" | grep -oE "[0-9]+$")
  speed=$(grep -oE "stat::average_exec_per_sec: +[0-9]+" "$log" | grep -oE "[0-9]+$")
  cov=$(grep -E "^#[0-9]+" "$log" | tail -1 | grep -oE "cov: [0-9]+" | grep -oE "[0-9]+")
  corp=$(grep -E "^#[0-9]+" "$log" | tail -1 | grep -oE "corp: [0-9]+" | grep -oE "[0-9]+")
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    pass=$((pass + 1))
    printf '%-14s ok      %12s runs  %7s/s  %6s edges  %6s inputs\n' "$name" "$runs" "${speed:-?}" "${cov:-?}" "${corp:-?}"
  else
    fail=$((fail + 1))
    printf '%-14s FAILED  (exit %s) see %s and %s\n' "$name" "$rc" "$log" "$crashes"
    grep -E "ERROR|SUMMARY|==[0-9]+==|deadly signal" "$log" | head -5
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
