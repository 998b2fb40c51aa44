#!/usr/bin/env bash
# Builds the formula fuzzer (tests/fuzz/formula_fuzzer.cc) with clang's libFuzzer, ASan and
# UBSan, and runs it for a bounded time over the corpus in tests/fuzz/formula_corpus/.
# New interesting inputs go to a scratch directory; FUZZ_MERGE=1 merges them into the corpus
# (minimised), to be committed on purpose.
#
#   scripts/fuzz-formula.sh            # 30 s (the maximum)
#   scripts/fuzz-formula.sh 10         # 10 s
#   FUZZ_BUILD_DIR=/tmp/fz scripts/fuzz-formula.sh   # another fuzz tree (default build-fuzz/)
#
# Needs clang and libFuzzer: apt-get install -y clang libclang-rt-14-dev
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
  echo "usage: $0 [seconds <= 30]" >&2
  exit 2
fi
(( seconds > 30 )) && seconds=30
corpus=$root/tests/fuzz/formula_corpus
FUZZ_ROOT=$root
source "$root/scripts/fuzz-lib.sh"
fuzz_build fuzz-formula formula_fuzzer  # the CMake target (tests/fuzz/CMakeLists.txt), only what changed
binary=$(fuzz_binary formula_fuzzer)
build=$binary-work
mkdir -p "$build"

# Run: new units go to a scratch directory (libFuzzer writes to the first corpus directory).
scratch=$build/new-units
rm -rf "$scratch"
mkdir -p "$scratch"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$binary" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=4200 \
  -artifact_prefix="$build/" -print_final_stats=1 "$scratch" "$corpus"
# The committed corpus changes only on purpose (make test leaves the tree as it found it):
# FUZZ_MERGE=1 merges the new units into it minimally.
if [[ "${FUZZ_MERGE:-0}" == 1 ]]; then
  "$binary" -merge=1 -timeout=5 -max_len=4200 "$corpus" "$scratch" 2>"$build/merge.log" || {
    echo "fuzz-formula: merge failed, see $build/merge.log" >&2
    exit 1
  }
fi
echo "fuzz-formula: ok; corpus has $(ls "$corpus" | wc -l) inputs, $(ls "$scratch" | wc -l) new in $scratch" >&2
