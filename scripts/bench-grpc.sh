#!/usr/bin/env bash
# KEDA call latency and memory benchmarks (BENCHMARKS.md "KEDA call latency" and "Memory"):
# bench/grpc/run.py (GetMetrics/IsActive against 1,000 tracked ScaledObjects next to a real
# Prometheus's PromQL query, in one run) and bench/grpc/memory.py (RSS, descriptors and CPU with
# 1,000 ScaledObjects x 1 and x 10 pods). Both build what they need (the targets keda_load and
# collect_server of the one CMake project, in <build-dir>) and print the Markdown tables that go into BENCHMARKS.md.
# Usage: scripts/bench-grpc.sh [build-dir=build]   (the nim-scaler binary under test is <build-dir>/scaler/nim-scaler)
#   env: BASELINE_BINARY=<an older nim-scaler> adds memory.py's same-run baseline rows
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
binary="$build/scaler/nim-scaler"
[ -x "$binary" ] || { echo "bench-grpc: no nim-scaler at $binary (build first: make build)" >&2; exit 2; }
cmake --build "$build" -j"${JOBS:-2}" --target collect_server >/dev/null
/usr/bin/python3 "$root/bench/grpc/run.py" --binary "$binary" --build-dir "$build"
memory_args=(--binary "$binary" --build-dir "$build" --collect-server "$build/bench/collect/collect_server")
[ -n "${BASELINE_BINARY:-}" ] && memory_args+=(--baseline-binary "$BASELINE_BINARY")
/usr/bin/python3 "$root/bench/grpc/memory.py" "${memory_args[@]}"
