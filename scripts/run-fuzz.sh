#!/usr/bin/env bash
# Builds the exposition parser's libFuzzer target with clang (-fsanitize=fuzzer,address,
# undefined) and runs it for a bounded time over the kept crash-free corpus.
# Usage: scripts/run-fuzz.sh [seconds=45] [build-dir=build-fuzz-exposition]
# [seconds] is shared: the /debug JSON target at the end takes 3 of them (DEBUG_JSON_FUZZ_SECONDS).
# New interesting inputs go to a scratch directory, so the committed corpus only changes
# when someone merges them in on purpose (see tests/fuzz/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-45}
out=${2:-$root/build-fuzz-exposition}
# The /debug JSON writer's target (below) takes a share of [seconds], so the total stays the same.
debug_secs=${DEBUG_JSON_FUZZ_SECONDS:-3}
if (( secs > debug_secs + 1 )); then secs=$((secs - debug_secs)); else debug_secs=1; fi
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

# --- /debug/scaledobjects JSON writer and the UTF-8 text helpers (issue 19 item 1): its share
# of [seconds] (3 s unless DEBUG_JSON_FUZZ_SECONDS says otherwise). No corpus is kept: the
# input is free-form bytes, which libFuzzer explores quickly from nothing.
FUZZ_ROOT=$root
source "$root/scripts/fuzz-lib.sh"
dj_bin=$root/build-fuzz-debug-json/debug_json_fuzzer
fuzz_build "run-fuzz: debug JSON" "$dj_bin" \
  "$root"/tests/fuzz/debug_json_fuzzer.cc "$root"/scaler/http/debug_json.cc "$root"/scaler/common/text.cc \
  "$root"/scaler/common/result.cc \
  -- "$root"/scaler/http/debug_json.h "$root"/scaler/common/*.h "$root"/scaler/signals/snapshot.h
fuzz_run "run-fuzz: debug JSON fuzzer" "$dj_bin" "$debug_secs" -max_len=4096
