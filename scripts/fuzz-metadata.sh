#!/usr/bin/env bash
# Builds the trigger-metadata libFuzzer target (tests/fuzz/metadata_fuzzer.cc: metadata map ->
# BuildScalerSpec; the CMake target metadata_fuzzer, clang with -fsanitize=fuzzer,address,undefined)
# and runs it for a bounded time over tests/fuzz/metadata_corpus/. New inputs go to a
# scratch directory; the committed corpus changes only when someone merges them in on purpose.
#
#   scripts/fuzz-metadata.sh          # 3 s (what make test runs, via run-fuzz.sh)
#   scripts/fuzz-metadata.sh 300      # a longer run by hand
#   FUZZ_BUILD_DIR=/tmp/fz scripts/fuzz-metadata.sh   # another fuzz tree (default build-fuzz/)
#
# Needs clang and libFuzzer: apt-get install -y clang libclang-rt-14-dev
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
FUZZ_ROOT=$root
source "$root/scripts/fuzz-lib.sh"
seconds=${1:-3}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
  echo "usage: $0 [seconds]" >&2
  exit 2
fi
fuzz_build fuzz-metadata metadata_fuzzer
binary=$(fuzz_binary metadata_fuzzer)
fuzz_run fuzz-metadata "$binary" "$seconds" -max_len=300000 -dict="$root/tests/fuzz/metadata.dict" \
  -- "$root/tests/fuzz/metadata_corpus"
