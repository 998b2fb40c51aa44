#!/bin/bash
# A/B of two nim-scaler builds' gRPC port, without Prometheus: the same keda_load sweep against
# each binary in turn (10 fake NIM pods, 1,000 tracked ScaledObjects), printing per row
# calls/s, server CPU (cores) and GetMetrics / IsActive p50, p99, p99.9 in ms.
#
#   bench/grpc/sweep.sh BINARY [BINARY...]     (env SECONDS_PER_ROW, default 5)
#
# keda_load comes from build/ (the main project's target keda_load; bench/grpc/run.py builds it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOAD=$ROOT/build/bench/grpc/keda_load
[ -x "$LOAD" ] || { echo "build keda_load first: cmake --build build --target keda_load" >&2; exit 2; }
SECS=${SECONDS_PER_ROW:-5}
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

mkfifo "$TMP/pods.in"
$PY "$ROOT/bench/grpc/fake_pods.py" 10 < "$TMP/pods.in" > "$TMP/pods.out" &
exec 3> "$TMP/pods.in"   # the pods serve until this closes
for _ in $(seq 50); do [ -s "$TMP/pods.out" ] && break; sleep 0.1; done
urls=$(head -1 "$TMP/pods.out" | cut -d: -f2 | tr -d ' ' | tr ',' '\n' | sed 's#^#http://127.0.0.1:#;s#$#/v1/metrics#' | paste -sd,)

for bin in "$@"; do
  echo "== $bin"
  "$bin" serve --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --allow-static-endpoints \
    --min-scrape-interval 500ms > "$TMP/scaler.log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/.*serving grpc_port=\([0-9]*\).*/\1/p' "$TMP/scaler.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$TMP/scaler.log"; exit 1; }
  for row in "1 0" "200 1000" "200 100" "200 20" "200 0"; do
    set -- $row
    c0=$(awk '{print $14+$15}' /proc/$pid/stat)
    t0=$(date +%s.%N)
    out=$("$LOAD" grpc --target 127.0.0.1:$port --pods "$urls" --objects 1000 --seconds "$SECS" \
          --callers "$1" --period-ms "$2" 2>/dev/null)
    c1=$(awk '{print $14+$15}' /proc/$pid/stat)
    t1=$(date +%s.%N)
    echo "$out" | $PY -c '
import json, os, sys
d = json.load(sys.stdin)
cpu = (int(sys.argv[2]) / os.sysconf("SC_CLK_TCK")) / (float(sys.argv[4]) - float(sys.argv[3]))
row = "callers %s, period %s ms" % (d["callers"], sys.argv[1])
parts = ["%s p50/p99/p99.9 %.2f/%.2f/%.2f" % (k, v["p50_us"] / 1e3, v["p99_us"] / 1e3, v["p999_us"] / 1e3)
         for k, v in d.items() if isinstance(v, dict)]
print("%-26s %7.0f calls/s  cpu %.2f  %s" % (row, d["calls_per_s"], cpu, "  ".join(parts)))
' "$2" "$((c1 - c0))" "$t0" "$t1"
  done
  kill "$pid"; wait "$pid" || true
done
