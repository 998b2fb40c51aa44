#!/usr/bin/env bash
# Builds the EndpointSlice decoder's libFuzzer target (tests/fuzz/endpoint_slice_fuzzer.cc)
# (the CMake target endpoint_slice_fuzzer, clang with -fsanitize=fuzzer,address,undefined) and
# runs it for a bounded time over tests/fuzz/endpoint_slice_corpus/. New inputs go to a scratch
# directory; the committed corpus changes only when someone merges them in on purpose.
#
#   scripts/fuzz-endpoint-slice.sh          # 3 s (what make test runs, via run-fuzz.sh)
#   scripts/fuzz-endpoint-slice.sh 300      # a longer run by hand
#   FUZZ_BUILD_DIR=/tmp/fz scripts/fuzz-endpoint-slice.sh   # another fuzz tree (default build-fuzz/)
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
fuzz_build fuzz-endpoint-slice endpoint_slice_fuzzer
binary=$(fuzz_binary endpoint_slice_fuzzer)
fuzz_run fuzz-endpoint-slice "$binary" "$seconds" -max_len=65536 -dict="$root/tests/fuzz/endpoint_slice.dict" \
  -- "$root/tests/fuzz/endpoint_slice_corpus"
