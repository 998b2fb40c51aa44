#!/usr/bin/python3
"""Memory benchmark: nim-scaler's RSS, threads and fds while it tracks 1,000 ScaledObjects that
each read 10 distinct pods (the goal in BENCHMARKS.md "Memory": under 64 MiB RSS with 1,000
ScaledObjects x 10 pods), next to 1,000 objects x 1 pod, each in a fresh server process.
With --baseline-binary (e.g. the previous release built from git) the same rows run for it too,
in the same run and against the same pods, and every number gets its ratio to the baseline.

  /usr/bin/python3 bench/grpc/memory.py [--binary build/scaler/nim-scaler]
      [--baseline-binary OLD/scaler/nim-scaler] [--collect-server build/bench/collect/collect_server]
      [--ports 1000] [--objects 1000] [--scrape-interval 5s] [--settle 40] [--per-object 1,10]
      [--serve-arg=--max-idle-connections=512 ...] [--forget]

Per row: RSS (before tracking, max and last of the samples), threads and open fds at the end,
CPU in cores over the settle period, that CPU per collection interval (core-s for one scrape of
every endpoint), the scrapes done against those expected (endpoints x settle / interval), and
the mean fetch wall of a group's cycle (nimscaler_scrape_duration_seconds: the time one group's
concurrent fetch of all its pods took).

Pods: one bench/collect/collect_server process serving the real NIM 1.x capture on `ports`
loopback ports (keep-alive HTTP/1.1). Object i reads pods (i*N + k) mod ports, k < N, each URL
made distinct per object with "?so=i", so 1,000 x 10 is 10,000 distinct pod endpoints (and as
many connections; `ulimit -n` must allow them). bench/grpc/keda_load `track` creates the objects
(GetMetricSpec, then GetMetrics until each answers); then RSS is sampled every second for
`settle` seconds of collection. With --forget, nothing asks about the objects afterwards, the
server (run with --forget-after settle+20s) forgets them, and the RSS 5 s after none is tracked
is reported too.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "conformance"))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402
from run import build_client, cpu_seconds  # noqa: E402

NIM = os.path.join(ROOT, "tests", "testdata", "engines", "nim-llm-1.x-llama3.1-8b-datadog-fixture.prom")


def scrapes(scaler):
    """nimscaler_scrapes_total by result (success|error)."""
    out = {}
    for line in scaler.http_get("/metrics").splitlines():
        if line.startswith("nimscaler_scrapes_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            out[result] = out.get(result, 0) + float(line.rsplit(" ", 1)[1])
    return out


def histogram_mean(scaler, name):
    """Mean of one of nim-scaler's own histograms (sum / count over every series)."""
    total = scaler.self_metric(name + "_sum")
    count = scaler.self_metric(name + "_count")
    return total / count if total is not None and count else float("nan")


def interval_seconds(text):
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1]) * {"s": 1, "m": 60}[text[-1]]


def forgotten_rss_kib(args, scaler):
    """RSS once every object is forgotten (nimscaler_tracked_scaledobjects back at 0), or None
    when that does not happen within the bound."""
    deadline = time.monotonic() + args.settle + 120
    while time.monotonic() < deadline:
        if scaler.self_metric("nimscaler_tracked_scaledobjects") == 0:
            time.sleep(5)  # what is freed late (the last cycle's snapshots) is freed by then
            return scaler.stats()["rss_kib"]
        time.sleep(1)
    return None


def measure(args, client, urls, per_object, work, binary, name):
    os.environ["NIM_SCALER_BIN"] = os.path.abspath(binary)
    extra = list(args.serve_arg)
    if args.forget:
        # Nothing asks about the objects after `track`: they are forgotten this long after it.
        extra += ["--forget-after", f"{int(args.settle) + 20}s"]
    scaler = h.Scaler(min_scrape="1s", workdir=work, extra_args=extra)
    try:
        idle = scaler.stats()
        t0 = time.monotonic()
        subprocess.run([client, "track", "--target", scaler.target, "--pods", ",".join(urls),
                        "--objects", str(args.objects), "--pods-per-object", str(per_object),
                        "--scrape-interval", args.scrape_interval],
                       check=True, capture_output=True, text=True, timeout=900)
        tracked_s = time.monotonic() - t0
        samples = []
        cpu0, c0, n0 = cpu_seconds(scaler.pid), time.monotonic(), scrapes(scaler)
        for _ in range(int(args.settle)):
            time.sleep(1)
            samples.append(scaler.stats())
        elapsed = time.monotonic() - c0
        cpu = (cpu_seconds(scaler.pid) - cpu0) / elapsed
        n1 = scrapes(scaler)
        done = {k: n1.get(k, 0) - n0.get(k, 0) for k in ("success", "error")}
        interval = interval_seconds(args.scrape_interval)
        forgotten = forgotten_rss_kib(args, scaler) if args.forget else None
        return {"forgotten_rss_kib": forgotten, "name": name, "per_object": per_object, "idle": idle, "last": samples[-1],
                "max_rss_kib": max(s["rss_kib"] for s in samples), "cpu_cores": cpu, "tracked_s": tracked_s,
                "scrapes": done, "expected": args.objects * per_object * elapsed / interval,
                "core_s_per_cycle": cpu * interval,
                "fetch_ms": 1000 * histogram_mean(scaler, "nimscaler_scrape_duration_seconds"),
                "load": os.getloadavg()}
    finally:
        scaler.stop()


def forgotten_cell(args, row):
    if not args.forget:
        return ""
    v = row["forgotten_rss_kib"]
    return " not forgotten in time |" if v is None else f" {v / 1024:.1f} |"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "scaler", "nim-scaler"))
    ap.add_argument("--collect-server", default=os.path.join(ROOT, "build", "bench", "collect", "collect_server"))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--scrape-interval", default="5s")
    ap.add_argument("--settle", type=float, default=40)
    ap.add_argument("--baseline-binary", default="", help="a previous build to measure in the same run")
    ap.add_argument("--per-object", default="1,10", help="pods per object, one row each (comma-separated)")
    ap.add_argument("--forget", action="store_true",
                    help="after the settle period, let the objects be forgotten (no KEDA call for --forget-after) "
                         "and report the RSS once none is tracked")
    ap.add_argument("--serve-arg", action="append", default=[], help="extra nim-scaler serve argument (repeatable)")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    need = args.objects * max(int(n) for n in args.per_object.split(",")) + 1000
    if hard < need:
        sys.exit(f"memory.py: ulimit -n hard limit {hard} is below the ~{need} descriptors the baseline needs (one per pod endpoint)")
    work = tempfile.mkdtemp(prefix="bench-memory-")
    client = build_client(args.build_dir)
    per_object = [int(n) for n in args.per_object.split(",")]
    binaries = [("this build", args.binary)]
    if args.baseline_binary:
        binaries.append(("baseline", args.baseline_binary))
    pods = subprocess.Popen([args.collect_server, "--ports", str(args.ports), "--body", NIM],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    load0 = os.getloadavg()
    try:
        ports = pods.stdout.readline().strip().split(",")
        urls = [f"http://127.0.0.1:{p}/v1/metrics" for p in ports]
        rows = [measure(args, client, urls, n, work, binary, name) for n in per_object for name, binary in binaries]
    finally:
        pods.stdin.close()
        pods.wait(10)

    print(f"\n{args.objects} ScaledObjects, scrapeInterval {args.scrape_interval}, {args.settle:g} s of collection "
          f"sampled every second; pods: collect_server on {args.ports} ports; serve args {args.serve_arg or 'none'}; "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}\n")
    for name, binary in binaries:
        print(f"- {name}: {binary}")
    print()
    print("| binary | pods per object | distinct pod endpoints | RSS before tracking MiB | RSS max MiB | RSS last MiB "
          "| threads | fds | CPU (cores) | core-s per interval | group fetch ms (mean) | scrapes ok / failed "
          "(expected) | tracking took s | load 1 min at end |" + (" RSS after forgotten MiB |" if args.forget else ""))
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.forget else ""))
    base = {r["per_object"]: r for r in rows if r["name"] == "baseline"}
    for r in rows:
        print(f"| {r['name']} | {r['per_object']} | {args.objects * r['per_object']:,} | "
              f"{r['idle']['rss_kib'] / 1024:.1f} | {r['max_rss_kib'] / 1024:.1f} | {r['last']['rss_kib'] / 1024:.1f} | "
              f"{r['last']['threads']} | {r['last']['fds']} | {r['cpu_cores']:.3f} | {r['core_s_per_cycle']:.3f} | "
              f"{r['fetch_ms']:.1f} | {r['scrapes']['success']:,.0f} / {r['scrapes']['error']:,.0f} "
              f"({r['expected']:,.0f}) | {r['tracked_s']:.1f} | {r['load'][0]:.2f} |" + forgotten_cell(args, r))
    if base:
        print("\nthis build / baseline:\n")
        print("| pods per object | RSS max | fds | CPU | group fetch wall |")
        print("|---:|---:|---:|---:|---:|")
        for r in rows:
            b = base.get(r["per_object"])
            if r["name"] != "this build" or b is None:
                continue
            ratio = lambda x, y: f"{x / y:.2f}x" if y else "n/a"  # noqa: E731
            print(f"| {r['per_object']} | {ratio(r['max_rss_kib'], b['max_rss_kib'])} | "
                  f"{ratio(r['last']['fds'], b['last']['fds'])} | {ratio(r['cpu_cores'], b['cpu_cores'])} | "
                  f"{ratio(r['fetch_ms'], b['fetch_ms'])} |")


if __name__ == "__main__":
    main()
