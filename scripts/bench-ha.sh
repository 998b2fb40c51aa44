#!/usr/bin/env bash
# HA benchmark (issue 12): three `nim-scaler serve` replicas (--peers-service, a fake Kubernetes
# API listing them) and one replica without it, on loopback, in one run: CPU seconds and RSS per
# replica with TRIGGERS triggers (both setups at once, same wall-clock window), then GetMetrics
# latency of a call forwarded by B to the owner A against the same call made to A directly.
# Prints the Markdown that goes into BENCHMARKS.md ("HA").
# Usage: scripts/bench-ha.sh [build-dir=build-bench]
#   env: TRIGGERS=1000 CALLS=20000 INTERVAL=2s WARMUP=40 MEASURE=60 JOBS=2
#        KEDA_PERIOD=15 (each trigger's GetMetrics once per that many seconds; 0: no KEDA-like load)
#        NO_BUILD=1 (use the binaries already in build-dir)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
if [ -z "${NO_BUILD:-}" ]; then
  # Configure only a new build directory (an existing one keeps its build type).
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$build" --target nim-scaler ha_bench -j"${JOBS:-2}" >/dev/null
fi
# Run a private copy of the server binary: a rebuild in the same tree during the run changes nothing.
work=$(mktemp -d /tmp/nimscaler-bench-ha.XXXXXX)
cp "$build/scaler/nim-scaler" "$work/nim-scaler"
trap 'rm -f "$work/nim-scaler"' EXIT  # the logs stay
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- scaler || echo ' (scaler/ modified)'); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; build type $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
cmd=("$build/bench/ha/ha_bench" --binary "$work/nim-scaler"
     --body "$root/tests/testdata/engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom"
     --log-dir "$work" --triggers "${TRIGGERS:-1000}" --calls "${CALLS:-20000}" --interval "${INTERVAL:-2s}"
     --warmup "${WARMUP:-40}" --measure "${MEASURE:-60}" --keda-period "${KEDA_PERIOD:-15}")
echo "\$ ${cmd[*]#$root/}"
echo
"${cmd[@]}"
echo
echo "(replica logs in $work)"
