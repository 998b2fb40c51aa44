#!/usr/bin/env bash
# Builds the trigger-metadata libFuzzer target (tests/fuzz/metadata_fuzzer.cc: metadata map ->
# BuildScalerSpec) with clang (-fsanitize=fuzzer,address,undefined) from only the sources it
# needs, and runs it for a bounded time over tests/fuzz/metadata_corpus/. New inputs go to a
# scratch directory; the committed corpus changes only when someone merges them in on purpose.
#
#   scripts/fuzz-metadata.sh          # 3 s (what make test runs, via run-fuzz.sh)
#   scripts/fuzz-metadata.sh 300      # a longer run by hand
#   FUZZ_BUILD_DIR=/tmp/md scripts/fuzz-metadata.sh
#
# Needs clang and libFuzzer: apt-get install -y clang libclang-rt-14-dev
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-3}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
  echo "usage: $0 [seconds]" >&2
  exit 2
fi
build=${FUZZ_BUILD_DIR:-$root/build-fuzz-metadata}
corpus=$root/tests/fuzz/metadata_corpus
cxx=${CXX_FUZZ:-}
if [[ -z "$cxx" ]]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null; then cxx=$c; break; fi
  done
fi
if [[ -z "$cxx" ]]; then
  echo "fuzz-metadata: clang++ not found (apt-get install -y clang libclang-rt-14-dev)" >&2
  exit 1
fi
mkdir -p "$build"
binary=$build/metadata_fuzzer
sources=("$root"/tests/fuzz/metadata_fuzzer.cc "$root"/scaler/spec/scaler_spec.cc
         "$root"/scaler/config/metadata_reader.cc "$root"/scaler/sources/engine_preset.cc "$root"/scaler/net/url.cc
         "$root"/scaler/common/text.cc "$root"/scaler/common/result.cc "$root"/scaler/formula/*.cc)
# Rebuild only when a source or header it reads is newer than the binary.
rebuild=0
[[ -x "$binary" ]] || rebuild=1
for s in "${sources[@]}" "$root"/scaler/spec/*.h "$root"/scaler/config/*.h "$root"/scaler/formula/*.h \
         "$root"/scaler/sources/*.h "$root"/scaler/net/*.h "$root"/scaler/common/*.h; do
  [[ "$s" -nt "$binary" ]] && rebuild=1
done
if (( rebuild )); then
  echo "fuzz-metadata: building $binary with $cxx" >&2
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
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=300000 \
  -dict="$root/tests/fuzz/metadata.dict" -artifact_prefix="$build/" -print_final_stats=1 "$scratch" "$corpus"
echo "fuzz-metadata: ran ${seconds}s without findings" >&2
