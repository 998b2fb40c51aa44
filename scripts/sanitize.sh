#!/usr/bin/env bash
# make sanitize: builds nim-scaler, faults_test and integration_test with AddressSanitizer and
# UndefinedBehaviorSanitizer in their own build directory (build-asan), then runs the KEDA
# conformance suites (tests/conformance, through ctest -L conformance, which starts the
# sanitized nim-scaler) and the scrape-fault suite (tests/faults) under them.
#
# Every report fails the run: halt_on_error stops the process at the first one, and each report
# is also written to $BUILD/sanitizer-logs/ (log_path), so a report from a scaler process that a
# test stops without looking at its exit code still counts. LeakSanitizer is on; the
# suppressions in tests/sanitizers/lsan.supp name only third-party allocations (see that file).
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
echo "== build nim-scaler faults_test integration_test (nice -n 19, -j$JOBS)"
nice -n 19 cmake --build "$BUILD" -j"$JOBS" --target nim-scaler faults_test integration_test \
  || { echo "sanitize: build failed"; exit 1; }

rm -rf "$LOGS"
mkdir -p "$LOGS"
SYMBOLIZER=$(command -v llvm-symbolizer || true)
common="print_stacktrace=1:halt_on_error=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}"
export ASAN_OPTIONS="$common:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$LOGS/asan"
export UBSAN_OPTIONS="$common:log_path=$LOGS/ubsan"
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=1"

failed=()
echo "== conformance suites (ctest -L conformance in $BUILD)"
(cd "$BUILD" && nice -n 10 ctest -L conformance --output-on-failure --timeout 900) || failed+=("conformance")
echo "== faults suite ($BUILD/tests/faults/faults_test)"
nice -n 10 "$BUILD/tests/faults/faults_test" --gtest_brief=1 || failed+=("faults_test")

reports=$(find "$LOGS" -type f | sort)
if [ -n "$reports" ]; then
  echo "== sanitizer reports"
  for f in $reports; do
    echo "---- $f"
    cat "$f"
  done
  failed+=("sanitizer reports: $(echo "$reports" | wc -l) file(s) in $LOGS")
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf 'sanitize: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "sanitize: conformance and faults suites clean under ASan+UBSan (LSan on)"
