#!/usr/bin/env bash
# Builds the EndpointSlice decoder's libFuzzer target (tests/fuzz/endpoint_slice_fuzzer.cc)
# with clang (-fsanitize=fuzzer,address,undefined) from only the sources it needs, and runs
# it for a bounded time over tests/fuzz/endpoint_slice_corpus/. New inputs go to a scratch
# directory; the committed corpus changes only when someone merges them in on purpose.
#
#   scripts/fuzz-endpoint-slice.sh          # 3 s (what make test runs, via run-fuzz.sh)
#   scripts/fuzz-endpoint-slice.sh 300      # a longer run by hand
#   FUZZ_BUILD_DIR=/tmp/es scripts/fuzz-endpoint-slice.sh
#
# Needs clang and libFuzzer: apt-get install -y clang libclang-rt-14-dev
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-3}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
  echo "usage: $0 [seconds]" >&2
  exit 2
fi
build=${FUZZ_BUILD_DIR:-$root/build-fuzz-endpoint-slice}
corpus=$root/tests/fuzz/endpoint_slice_corpus
cxx=${CXX_FUZZ:-}
if [[ -z "$cxx" ]]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null; then cxx=$c; break; fi
  done
fi
if [[ -z "$cxx" ]]; then
  echo "fuzz-endpoint-slice: clang++ not found (apt-get install -y clang libclang-rt-14-dev)" >&2
  exit 1
fi
mkdir -p "$build"
binary=$build/endpoint_slice_fuzzer
sources=("$root"/tests/fuzz/endpoint_slice_fuzzer.cc "$root"/scaler/sources/discovery/endpoint_slice_decode.cc
         "$root"/scaler/common/result.cc)
# Rebuild only when a source or header is newer than the binary (nlohmann_json under the
# sanitizers takes a while to compile).
rebuild=0
[[ -x "$binary" ]] || rebuild=1
for s in "${sources[@]}" "$root"/scaler/sources/discovery/endpoint_slice_decode.h "$root"/scaler/common/result.h; do
  [[ "$s" -nt "$binary" ]] && rebuild=1
done
if (( rebuild )); then
  echo "fuzz-endpoint-slice: building $binary with $cxx" >&2
  "$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$root" "${sources[@]}" -o "$binary.tmp"
  mv "$binary.tmp" "$binary"
fi
scratch=$build/new
rm -rf "$scratch"
mkdir -p "$scratch"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -dict="$root/tests/fuzz/endpoint_slice.dict" -artifact_prefix="$build/" -print_final_stats=1 "$scratch" "$corpus"
echo "fuzz-endpoint-slice: ran ${seconds}s without findings" >&2
