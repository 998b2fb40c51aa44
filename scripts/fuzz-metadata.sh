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
FUZZ_ROOT=$root
source "$root/scripts/fuzz-lib.sh"
seconds=${1:-3}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
  echo "usage: $0 [seconds]" >&2
  exit 2
fi
build=${FUZZ_BUILD_DIR:-$root/build-fuzz-metadata}
binary=$build/metadata_fuzzer
fuzz_build fuzz-metadata "$binary" \
  "$root"/tests/fuzz/metadata_fuzzer.cc "$root"/scaler/trigger/*.cc "$root"/scaler/config/metadata_reader.cc \
  "$root"/scaler/sources/engine_preset.cc "$root"/scaler/sources/front_door_preset.cc "$root"/scaler/net/url.cc "$root"/scaler/common/text.cc \
  "$root"/scaler/common/result.cc "$root"/scaler/formula/*.cc \
  -- "$root"/scaler/trigger/*.h "$root"/scaler/config/*.h "$root"/scaler/formula/*.h "$root"/scaler/sources/*.h \
  "$root"/scaler/net/*.h "$root"/scaler/common/*.h
fuzz_run fuzz-metadata "$binary" "$seconds" -max_len=300000 -dict="$root/tests/fuzz/metadata.dict" \
  -- "$root/tests/fuzz/metadata_corpus"
