#!/usr/bin/env bash
# Exposition parser benchmark: our parser (C++), memchr over the same bytes, Go's expfmt
# (Debian golang-github-prometheus-common-dev, built offline) and Python's prometheus_client
# (Debian python3-prometheus-client), on every top-level corpus file, in one run. Prints the
# markdown table that goes into BENCHMARKS.md.
# Usage: scripts/bench-exposition.sh [ms-per-measurement=1000] [build-dir=build-bench]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ms=${1:-1000}
build=${2:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target exposition_bench -j1 >/dev/null
(cd "$root/tests/differential/expfmt_dump" &&
  GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="$build/gocache" \
    go build -o "$build/expfmt_dump" .)
files=("$root"/tests/testdata/exposition/*.prom "$root"/tests/testdata/exposition/*.om.txt)
out="$build/exposition-bench.tsv"
: >"$out"
"$build/bench/exposition_bench" "$ms" "${files[@]}" >>"$out"
"$build/expfmt_dump" bench "$ms" "${files[@]}" | awk -F'\t' -v OFS='\t' '{print $1,"expfmt",$2,$3,$4,"-"}' >>"$out"
/usr/bin/python3 "$root/bench/python_bench.py" "$ms" "${files[@]}" >>"$out"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; $(go version | cut -d' ' -f3); python $(/usr/bin/python3 -c 'import prometheus_client, sys; print(sys.version.split()[0], "prometheus_client", getattr(prometheus_client, "__version__", "0.16"))' 2>/dev/null)"
echo
/usr/bin/python3 "$root/bench/report.py" "$out"
