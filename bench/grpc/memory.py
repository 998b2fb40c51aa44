#!/usr/bin/python3
"""Memory benchmark: nim-scaler's RSS, threads and fds while it tracks 1,000 ScaledObjects that
each read 10 distinct pods (the goal in BENCHMARKS.md "Memory": under 64 MiB RSS with 1,000
ScaledObjects x 10 pods), next to 1,000 objects x 1 pod, each in a fresh server process.

  /usr/bin/python3 bench/grpc/memory.py [--binary build/scaler/nim-scaler]
      [--collect-server build/bench/collect/collect_server] [--ports 1000] [--objects 1000]
      [--scrape-interval 5s] [--settle 40]

Pods: one bench/collect/collect_server process serving the real NIM 1.x capture on `ports`
loopback ports (keep-alive HTTP/1.1). Object i reads pods (i*N + k) mod ports, k < N, each URL
made distinct per object with "?so=i", so 1,000 x 10 is 10,000 distinct pod endpoints (and as
many connections; `ulimit -n` must allow them). bench/grpc/keda_load `track` creates the objects
(GetMetricSpec, then GetMetrics until each answers); then RSS is sampled every second for
`settle` seconds of collection.
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


def measure(args, client, urls, per_object, work):
    scaler = h.Scaler(min_scrape="1s", workdir=work)
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
        cpu = (cpu_seconds(scaler.pid) - cpu0) / (time.monotonic() - c0)
        n1 = scrapes(scaler)
        done = {k: n1.get(k, 0) - n0.get(k, 0) for k in ("success", "error")}
        return {"per_object": per_object, "idle": idle, "last": samples[-1],
                "max_rss_kib": max(s["rss_kib"] for s in samples), "cpu_cores": cpu, "tracked_s": tracked_s,
                "scrapes": done}
    finally:
        scaler.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "scaler", "nim-scaler"))
    ap.add_argument("--collect-server", default=os.path.join(ROOT, "build", "bench", "collect", "collect_server"))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench-grpc"))
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--scrape-interval", default="5s")
    ap.add_argument("--settle", type=float, default=40)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    need = args.objects * 10 + 1000
    if hard < need:
        sys.exit(f"memory.py: ulimit -n hard limit {hard} is below the ~{need} descriptors 10,000 pods need")
    os.environ["NIM_SCALER_BIN"] = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="bench-memory-")
    client = build_client(args.build_dir)
    pods = subprocess.Popen([args.collect_server, "--ports", str(args.ports), "--body", NIM],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ports = pods.stdout.readline().strip().split(",")
        urls = [f"http://127.0.0.1:{p}/v1/metrics" for p in ports]
        rows = [measure(args, client, urls, n, work) for n in (1, 10)]
    finally:
        pods.stdin.close()
        pods.wait(10)

    print(f"\n{args.objects} ScaledObjects, scrapeInterval {args.scrape_interval}, {args.settle:g} s of collection "
          f"sampled every second; pods: collect_server on {args.ports} ports\n")
    print("| pods per object | distinct pod endpoints | RSS before tracking MiB | RSS max MiB | RSS last MiB "
          "| threads | fds | CPU (cores) | scrapes ok / failed | tracking took s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['per_object']} | {args.objects * r['per_object']:,} | {r['idle']['rss_kib'] / 1024:.1f} | "
              f"{r['max_rss_kib'] / 1024:.1f} | {r['last']['rss_kib'] / 1024:.1f} | {r['last']['threads']} | "
              f"{r['last']['fds']} | {r['cpu_cores']:.2f} | {r['scrapes']['success']:,.0f} / {r['scrapes']['error']:,.0f} | "
              f"{r['tracked_s']:.1f} |")


if __name__ == "__main__":
    main()
