#!/usr/bin/env bash
# Builds (when its sources changed) the exposition parser's libFuzzer target with clang (-fsanitize=fuzzer,address,
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
FUZZ_ROOT=$root
source "$root/scripts/fuzz-lib.sh"
fuzz_build "run-fuzz: exposition" "$out/exposition_fuzzer" \
  "$root"/tests/fuzz/exposition_fuzzer.cc "$root"/scaler/signals/exposition/{escape,number,om_checker,parser,selector}.cc \
  "$root"/scaler/common/result.cc \
  -- "$root"/scaler/signals/exposition/*.h "$root"/scaler/common/*.h
fuzz_run "run-fuzz: exposition fuzzer" "$out/exposition_fuzzer" "$secs" -max_len=65536 \
  -- "$root/tests/fuzz/corpus/exposition"

# --- EndpointSlice decoder (issue 19 item 3): a few seconds, whatever [seconds] says above;
# scripts/fuzz-endpoint-slice.sh builds only when its sources changed.
bash "$root/scripts/fuzz-endpoint-slice.sh" "${ENDPOINT_SLICE_FUZZ_SECONDS:-3}"

# --- Trigger metadata -> BuildScalerSpec (issue 19 item 10): a few seconds, whatever
# [seconds] says above; scripts/fuzz-metadata.sh builds only when its sources changed.
bash "$root/scripts/fuzz-metadata.sh" "${METADATA_FUZZ_SECONDS:-3}"

# --- /debug/scaledobjects JSON writer and the UTF-8 text helpers (issue 19 item 1): its share
# of [seconds] (3 s unless DEBUG_JSON_FUZZ_SECONDS says otherwise). No corpus is kept: the
# input is free-form bytes, which libFuzzer explores quickly from nothing.
dj_bin=$root/build-fuzz-debug-json/debug_json_fuzzer
fuzz_build "run-fuzz: debug JSON" "$dj_bin" \
  "$root"/tests/fuzz/debug_json_fuzzer.cc "$root"/scaler/http/debug_json.cc "$root"/scaler/common/text.cc \
  "$root"/scaler/common/result.cc \
  -- "$root"/scaler/http/debug_json.h "$root"/scaler/common/*.h "$root"/scaler/signals/snapshot.h
fuzz_run "run-fuzz: debug JSON fuzzer" "$dj_bin" "$debug_secs" -max_len=4096
