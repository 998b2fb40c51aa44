#!/usr/bin/env bash
# Builds the exposition parser's libFuzzer target with clang (-fsanitize=fuzzer,address,
# undefined) and runs it for a bounded time over the kept crash-free corpus.
# Usage: scripts/run-fuzz.sh [seconds=45] [build-dir=build-fuzz-exposition]
# New interesting inputs go to a scratch directory, so the committed corpus only changes
# when someone merges them in on purpose (see tests/fuzz/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-45}
out=${2:-$root/build-fuzz-exposition}
mkdir -p "$out/new"
src=(scaler/signals/exposition/{escape,number,om_checker,parser,selector}.cc scaler/common/result.cc)
clang++ -std=c++20 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$root" "$root/tests/fuzz/exposition_fuzzer.cc" "${src[@]/#/$root/}" \
  -o "$out/exposition_fuzzer"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$out/exposition_fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$out/" "$out/new" "$root/tests/fuzz/corpus/exposition"
echo "run-fuzz: exposition fuzzer ran ${secs}s without findings"

# --- EndpointSlice decoder (issue 19 item 3): a few seconds, whatever [seconds] says above;
# scripts/fuzz-endpoint-slice.sh builds only when its sources changed.
bash "$root/scripts/fuzz-endpoint-slice.sh" "${ENDPOINT_SLICE_FUZZ_SECONDS:-3}"

# --- Trigger metadata -> BuildScalerSpec (issue 19 item 10): a few seconds, whatever
# [seconds] says above; scripts/fuzz-metadata.sh builds only when its sources changed.
bash "$root/scripts/fuzz-metadata.sh" "${METADATA_FUZZ_SECONDS:-3}"
