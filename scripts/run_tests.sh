#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, N failed".
#   1. unit tests (GoogleTest via ctest)
#   2. integration tests: the official TypeScript SDK client against mcpgw (node --test)
#   3. the official MCP conformance suites (server mode) against /mcp/conformance: 0.1.x (active
#      suite, the older revisions) and 0.2.x (--requirements 2026-07-28)
#   4. unit and integration tests again, built with ASan+UBSan
#   5. every libFuzzer harness for FUZZ_SECONDS (20) on its corpus (scripts/fuzz.sh)
#   6. the layering of src/ (scripts/check_layers.sh: one check per file)
#   7. the sizes of src/: files and function bodies (scripts/check_sizes.py: one check per file)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=$(realpath -m "${BUILD_DIR:-build}")
ASAN_DIR=$(realpath -m "${ASAN_DIR:-build-asan}")
NODE=${NODE:-node_modules/.bin/node}
OUT=${OUT:-test-results}
mkdir -p "$OUT"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

total_pass=0
total_fail=0
summary=()

record() {  # record NAME PASSED FAILED
  total_pass=$((total_pass + $2))
  total_fail=$((total_fail + $3))
  summary+=("$(printf '%-28s %4d passed, %3d failed' "$1" "$2" "$3")")
}

# summary_line LOG REGEX: prints the last line of LOG matching REGEX; without one, shows the
# end of LOG (on stderr) and fails.
summary_line() {
  local line
  line=$(grep -E "$2" "$1" | tail -1)
  if [ -z "$line" ]; then
    tail -20 "$1" >&2
    return 1
  fi
  printf '%s\n' "$line"
}

# record_counts NAME LOG: records a suite whose LOG ends with "N passed, N failed".
record_counts() {
  local line
  line=$(summary_line "$2" "^[0-9]+ passed, [0-9]+ failed$") || {
    record "$1" 0 1
    return
  }
  record "$1" "$(awk '{print $1}' <<<"$line")" "$(awk '{print $3}' <<<"$line")"
}

run_unit() {  # run_unit NAME BUILD_DIR
  local log="$OUT/$1.log"
  ctest --test-dir "$2" --output-on-failure -j "$(nproc)" >"$log" 2>&1
  local rc=$?
  local line
  line=$(summary_line "$log" "tests passed, [0-9]+ tests failed out of [0-9]+") || {
    record "$1" 0 1
    return
  }
  local failed total
  failed=$(sed -E 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
  [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1 && grep -E "FAILED|Errors" "$log" | head
  [ "$failed" -gt 0 ] && grep -E "Failed|\*\*\*" "$log" | head -20
  record "$1" $((total - failed)) "$failed"
}

run_integration() {  # run_integration NAME MCPGW_BIN
  local tap="$OUT/$1.tap"
  MCPGW_BIN="$2" "$NODE" --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination="$OUT/$1.log" \
    --test-reporter=tap --test-reporter-destination="$tap" \
    "test/integration/*.test.mjs" >/dev/null 2>&1
  local rc=$?
  local pass fail
  pass=$(grep -E "^# pass [0-9]+" "$tap" | awk '{print $3}')
  fail=$(grep -E "^# fail [0-9]+" "$tap" | awk '{print $3}')
  # Tests cancelled (a failed before() hook, a timeout) did not pass either.
  local cancelled
  cancelled=$(grep -E "^# cancelled [0-9]+" "$tap" | awk '{print $3}')
  [ -n "$fail" ] && fail=$((fail + ${cancelled:-0}))
  if [ -z "$pass" ] || [ -z "$fail" ]; then
    tail -30 "$OUT/$1.log" 2>/dev/null
    record "$1" 0 1
    return
  fi
  [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
  [ "$fail" -gt 0 ] && grep -A25 "^✖ failing tests" "$OUT/$1.log" | head -80
  record "$1" "$pass" "$fail"
}

run_conformance() {  # run_conformance NAME MCPGW_BIN CONFIG SUITE [SUITE ARGS...]
  # The suite (the official conformance CLI at SUITE) against /mcp/conformance of a gateway
  # serving CONFIG. Checks are counted per scenario; scenarios listed in an --expected-failures
  # file are left out of the count (the suite itself fails the run if one of them passes).
  local name=$1 bin=$2 config=$3 suite=$4
  shift 4
  local log="$OUT/$name.log"
  local gwlog="$OUT/$name-gateway.log"
  "$bin" serve --config "$config" --listen 127.0.0.1:0 >"$gwlog" 2>&1 &
  local pid=$!
  local port=""
  for _ in $(seq 1 100); do
    port=$(grep -oE "listening on http://127\.0\.0\.1:[0-9]+" "$gwlog" | grep -oE "[0-9]+$")
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    cat "$gwlog"
    kill "$pid" 2>/dev/null
    record "$name" 0 1
    return
  fi
  timeout 600 "$NODE" "$suite" server \
    --url "http://localhost:$port/mcp/conformance" -o "$OUT/$name-results" "$@" >"$log" 2>&1
  local rc=$?
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  local gw_rc=$?
  local expected="" prev=""
  for arg in "$@"; do
    [ "$prev" = "--expected-failures" ] && expected=$arg
    prev=$arg
  done
  local counts pass fail
  counts=$(awk -v expected="$expected" '
    BEGIN { if (expected != "") while ((getline l < expected) > 0)
              if (l ~ /^ *- /) { sub(/^ *- */, "", l); sub(/ *#.*/, "", l); skip[l] = 1 } }
    /^(✓|✗) [a-z0-9-]+: [0-9]+ passed, [0-9]+ failed/ {
      name = $2; sub(/:$/, "", name)
      if (!(name in skip)) { p += $3; f += $5 }
    }
    END { print p + 0, f + 0 }' "$log")
  pass=${counts% *}
  fail=${counts#* }
  if [ "$pass" -eq 0 ]; then
    tail -30 "$log"
    record "$name" 0 1
    return
  fi
  [ "$fail" -gt 0 ] && grep -aE "^✗" "$log"
  [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
  if [ "$gw_rc" -ne 0 ]; then
    echo "$name: the gateway exited with status $gw_rc after SIGTERM"
    grep -aE "ERROR|runtime error" "$gwlog" | head
    fail=$((fail + 1))
  fi
  record "$name" "$pass" "$fail"
}

# The suites: 0.1.x for the older revisions, 0.2.x for 2026-07-28 (its own fixture server, which
# speaks only that revision; the tasks extension is not served, see the expected failures).
CONF_01=node_modules/@modelcontextprotocol/conformance/dist/index.js
CONF_02=node_modules/@modelcontextprotocol/conformance-0.2/dist/index.js
run_conformance_all() {  # run_conformance_all SUFFIX MCPGW_BIN
  run_conformance "conformance$1" "$2" test/conformance/mcpgw.json "$CONF_01"
  run_conformance "conformance-2026$1" "$2" test/conformance/mcpgw-2026.json "$CONF_02" \
    --requirements 2026-07-28 --expected-failures test/conformance/expected-failures-2026.yml
}

run_fuzz() {  # run_fuzz NAME: every harness for FUZZ_SECONDS on its corpus; each one that ends
  # without a crash (or leak, or sanitizer report) counts as passed
  local log="$OUT/$1.log"
  FUZZ_DIR="${FUZZ_DIR:-build-fuzz}" scripts/fuzz.sh "${FUZZ_SECONDS:-20}" >"$log" 2>&1
  grep -E "FAILED" -A5 "$log"
  record_counts "$1" "$log"
}

run_layers() {  # run_layers NAME
  local log="$OUT/$1.log"
  scripts/check_layers.sh >"$log" 2>&1
  grep -v "passed, " "$log" | head -20
  record_counts "$1" "$log"
}

run_sizes() {  # run_sizes NAME
  local log="$OUT/$1.log"
  python3 scripts/check_sizes.py >"$log" 2>&1
  grep -v "passed, " "$log" | head -20
  record_counts "$1" "$log"
}

run_layers "layers"
run_sizes "sizes"
run_unit "unit" "$BUILD_DIR"
run_integration "integration" "$BUILD_DIR/mcpgw"
run_conformance_all "" "$BUILD_DIR/mcpgw"
run_unit "unit-asan" "$ASAN_DIR"
run_integration "integration-asan" "$ASAN_DIR/mcpgw"
run_conformance_all "-asan" "$ASAN_DIR/mcpgw"
run_fuzz "fuzz"

echo
for line in "${summary[@]}"; do
  echo "  $line"
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
