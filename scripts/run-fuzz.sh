#!/usr/bin/env bash
# Builds every libFuzzer target (the CMake target `fuzzers` in build-fuzz/, clang with
# -fsanitize=fuzzer,address,undefined; only what changed) and runs the exposition parser's for a
# bounded time over the kept crash-free corpus, then the EndpointSlice, metadata and /debug JSON
# ones for a few seconds each.
# Usage: scripts/run-fuzz.sh [seconds=45]
# [seconds] is shared: the /debug JSON target at the end takes 3 of them (DEBUG_JSON_FUZZ_SECONDS).
# New interesting inputs go to a scratch directory, so the committed corpus only changes
# when someone merges them in on purpose (see tests/fuzz/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-45}
# The /debug JSON writer's target (below) takes a share of [seconds], so the total stays the same.
debug_secs=${DEBUG_JSON_FUZZ_SECONDS:-3}
if (( secs > debug_secs + 1 )); then secs=$((secs - debug_secs)); else debug_secs=1; fi
FUZZ_ROOT=$root
source "$root/scripts/fuzz-lib.sh"
fuzz_build run-fuzz fuzzers
fuzz_run "run-fuzz: exposition fuzzer" "$(fuzz_binary exposition_fuzzer)" "$secs" -max_len=65536 \
  -- "$root/tests/fuzz/corpus/exposition"

# --- EndpointSlice decoder (issue 19 item 3): a few seconds, whatever [seconds] says above;
# the build above made it.
bash "$root/scripts/fuzz-endpoint-slice.sh" "${ENDPOINT_SLICE_FUZZ_SECONDS:-3}"

# --- Trigger metadata -> BuildScalerSpec (issue 19 item 10): a few seconds, whatever
# [seconds] says above; the build above made it.
bash "$root/scripts/fuzz-metadata.sh" "${METADATA_FUZZ_SECONDS:-3}"

# --- /debug/scaledobjects JSON writer and the UTF-8 text helpers (issue 19 item 1): its share
# of [seconds] (3 s unless DEBUG_JSON_FUZZ_SECONDS says otherwise). No corpus is kept: the
# input is free-form bytes, which libFuzzer explores quickly from nothing.
dj_bin=$(fuzz_binary debug_json_fuzzer)
fuzz_run "run-fuzz: debug JSON fuzzer" "$dj_bin" "$debug_secs" -max_len=4096
