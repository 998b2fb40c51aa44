#!/usr/bin/env bash
# Collection benchmark (BENCHMARKS.md "Collection": 1,000 pod endpoints per cycle in under 1 s wall and under
# one core). One helper process (collect_server) serves ENDPOINTS loopback ports; collect_bench
# scrapes them all per cycle with PodScrapeSource::ScrapeAll (curl multi + parse + extract) and,
# in the same run, with a naive sequential loop of HttpClient::Get + Interpret. Run once with pods answering at once
# and once with a pod response time (DELAYS, ms), which is where one-at-a-time collapses.
# Prints the markdown tables that go into BENCHMARKS.md ("Collection: 1,000 endpoints per cycle").
# Then (issue 16 item 1) the CPU per scrape of the Prometheus server's own 190 KB exposition by
# stage (parse alone, fetch, parse + extract, end to end) next to a Go net/http + expfmt scraper
# (bench/collect/go_scraper, built offline from Debian's golang-github-prometheus-common-dev
# when `go` is there) fetching the same body from the same server.
# Usage: scripts/bench-collect.sh [build-dir=build-bench]
#   env: ENDPOINTS=1000 CYCLES=10 NAIVE_CYCLES=5 DELAYS="0 2" JOBS=2 PER_SCRAPE=2000 (0: skip)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
endpoints=${ENDPOINTS:-1000}
cycles=${CYCLES:-10}
naive_cycles=${NAIVE_CYCLES:-5}
delays=${DELAYS:-0 2}
# Configure only a new build directory (an existing one keeps its build type).
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" --target collect_server collect_bench -j"${JOBS:-2}" >/dev/null
# Each endpoint holds a connection in both processes: use the hard descriptor limit (the
# programs raise their soft limit themselves too).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
body="$root/tests/testdata/engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; $(curl-config --version 2>/dev/null || echo libcurl); build type $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt"); ulimit -n $(ulimit -n)"
for d in $delays; do
  echo
  cmd=("$build/bench/collect/collect_bench" --server "$build/bench/collect/collect_server" --body "$body"
       --endpoints "$endpoints" --cycles "$cycles" --naive-cycles "$naive_cycles" --delay-ms "$d"
       --tsv "$build/collect-bench-delay$d.tsv")
  echo "\$ ${cmd[*]#$root/}"
  "${cmd[@]}"
done
per_scrape=${PER_SCRAPE:-2000}
if [ "$per_scrape" -gt 0 ]; then
  go_args=()
  if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/prometheus/common ]; then
    (cd "$root/bench/collect/go_scraper" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" \
       go build -o "$build/go_scraper" .) && go_args=(--go-scraper "$build/go_scraper")
  fi
  echo
  cmd=("$build/bench/collect/collect_bench" --server "$build/bench/collect/collect_server"
       --body "$root/tests/testdata/exposition/prometheus-server-alltypes-237mfs.prom" --per-scrape "$per_scrape"
       "${go_args[@]}")
  echo "\$ ${cmd[*]#$root/}"
  "${cmd[@]}"
fi
