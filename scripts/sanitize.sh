#!/usr/bin/env bash
# make sanitize: builds nim-scaler, faults_test and integration_test with AddressSanitizer and
# UndefinedBehaviorSanitizer in their own build directory (build-asan), then runs the KEDA
# conformance suites (tests/conformance, through ctest -L conformance, which starts the
# sanitized nim-scaler) and the scrape-fault suite (tests/faults) under them.
#
# Every report fails the run: halt_on_error stops the process at the first one, and every output
# (test output and the logs of the scaler processes the tests start) is searched for reports
# afterwards, so a report from a scaler that a test stops without looking at its exit code still
# counts. LeakSanitizer is on; tests/sanitizers/lsan.supp may name only third-party allocations.
# The integration suite (tests/integration) runs too; there only sanitizer reports count (its
# timing bounds are for optimized builds), its test failures are shown as a note.
#
# Usage: bash scripts/sanitize.sh            (SANITIZE_BUILD=dir, JOBS=n to change the defaults)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${SANITIZE_BUILD:-build-asan}
JOBS=${JOBS:-2}
LOGS=$ROOT/$BUILD/sanitizer-logs

echo "== configure $BUILD (address;undefined, RelWithDebInfo)"
nice -n 19 cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIMSCALER_BUILD_TESTS=ON \
  -DNIMSCALER_SANITIZE="address;undefined" >"$BUILD.configure.log" 2>&1 \
  || { cat "$BUILD.configure.log"; echo "sanitize: configure failed"; exit 1; }
rm -f "$BUILD.configure.log"
# An object whose compile overlapped an edit of one of its sources (a tree that others edit
# while this builds) is newer than that edit but was made from the old text, and make would
# keep it: drop every object with a dependency modified less than 5 minutes before it was made.
/usr/bin/python3 - "$BUILD" <<'PY'
import os, pathlib, sys
dropped = 0
for d in pathlib.Path(sys.argv[1]).rglob("*.o.d"):
    obj = d.with_suffix("")
    try:
        made = obj.stat().st_mtime
        deps = d.read_text().replace("\\\n", " ").split(":", 1)[1].split()
    except (OSError, IndexError):
        continue
    for dep in deps:
        try:
            if os.stat(dep).st_mtime > made - 300:
                obj.unlink()
                dropped += 1
                break
        except OSError:
            continue
if dropped:
    print(f"sanitize: {dropped} object(s) rebuilt (a source changed around their last compile)")
PY
echo "== build nim-scaler faults_test integration_test (nice -n 19, -j$JOBS)"
nice -n 19 cmake --build "$BUILD" -j"$JOBS" --target nim-scaler faults_test integration_test \
  || { echo "sanitize: build failed"; exit 1; }

rm -rf "$LOGS"
mkdir -p "$LOGS"
SYMBOLIZER=$(command -v llvm-symbolizer || true)
common="print_stacktrace=1:halt_on_error=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}"
export ASAN_OPTIONS="$common:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="$common"
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0"
export NIM_SCALER_SANITIZED=1  # tests/conformance: RSS growth bounds do not apply under ASan
# Reports go to stderr (UBSan ignores log_path when it runs inside ASan), so every output is kept
# under $LOGS and searched afterwards: the scaler processes the conformance suites start write
# their logs to the suites' work dirs, or to mkdtemp() dirs, which TMPDIR puts under $LOGS.
rm -rf "$LOGS" "$BUILD"/tests/conformance/work-*
mkdir -p "$LOGS/tmp"
export TMPDIR="$LOGS/tmp"

failed=()
echo "== conformance suites (ctest -L conformance in $BUILD)"
(cd "$BUILD" && nice -n 10 ctest -L conformance --output-on-failure --timeout 900) >"$LOGS/conformance.out" 2>&1 \
  || failed+=("conformance suites")
grep -E "tests passed|Failed|Passed" "$LOGS/conformance.out" | tail -12
echo "== faults suite ($BUILD/tests/faults/faults_test)"
nice -n 10 "$BUILD/tests/faults/faults_test" >"$LOGS/faults.out" 2>&1 || failed+=("faults_test")
grep -E "^\[  (PASSED|FAILED) |tests ran" "$LOGS/faults.out"
echo "== integration suite ($BUILD/tests/integration/integration_test)"
# Informational beyond its sanitizer reports: its timing bounds are made for an optimized build
# (a value within 0.9 s of a change), which ASan's 2-3x slowdown can miss on a loaded machine.
nice -n 10 "$BUILD/tests/integration/integration_test" >"$LOGS/integration.out" 2>&1 \
  || echo "sanitize: note: integration_test had failures (not counted unless a sanitizer reported):"
grep -E "^\[  (PASSED|FAILED) |tests ran" "$LOGS/integration.out"

pattern='runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)'
hits=$(grep -rlE "$pattern" "$LOGS" "$BUILD"/tests/conformance/work-* 2>/dev/null | sort)
if [ -n "$hits" ]; then
  echo "== sanitizer reports"
  for f in $hits; do
    echo "---- $f"
    grep -nE -A25 "$pattern" "$f" | head -80
  done
  failed+=("sanitizer reports in $(echo "$hits" | wc -l) file(s)")
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf 'sanitize: FAILED: %s\n' "${failed[@]}"
  echo "sanitize: outputs in $LOGS"
  exit 1
fi
echo "sanitize: conformance, faults and integration suites clean under ASan+UBSan (LSan on); outputs in $LOGS"
