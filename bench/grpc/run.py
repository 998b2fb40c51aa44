#!/usr/bin/python3
"""KEDA call-latency benchmark: nim-scaler's GetMetrics/IsActive against the per-call work of
KEDA's built-in Prometheus scaler (a PromQL instant query to a real Prometheus), in one run.

  /usr/bin/python3 bench/grpc/run.py [--binary build/scaler/nim-scaler] [--objects 1000]
      [--callers 200] [--seconds 10] [--pods 10] [--wake-trials 20] [--periods-ms 1000,100,20]
      [--client-threads 1] [--json out.json]

Everything runs on loopback: `pods` fake NIM pods (bench/grpc/fake_pods.py, one asyncio
process) plus one wake pod; a Debian `prometheus` scraping them every 1 s (temp config and
TSDB); `nim-scaler serve --allow-static-endpoints` tracking `objects` ScaledObjects (object i
scrapes pod i % pods every 2 s); bench/grpc/keda_load (C++, the main project's target keda_load,
built here in --build-dir) as the caller: `callers` polling loops multiplexed on
`client-threads` OS threads, as KEDA's goroutines are. Rows: one caller back to back; every
caller polling once per period (one row per --periods-ms value); closed loop; an operator
restart (every object's GetMetricSpec, GetMetrics and IsActive, `callers` in flight).
Prints a Markdown table for BENCHMARKS.md.
"""

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "conformance"))

import grpc  # noqa: E402

import harness as h  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_client(build_dir):
    """keda_load, a target of the main CMake project (bench/grpc/CMakeLists.txt), built in
    build_dir (configured here, Release, when it is not yet)."""
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release"], check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "keda_load"], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(build_dir, "bench", "grpc", "keda_load")


class Prometheus:
    def __init__(self, workdir, targets):
        self.dir = tempfile.mkdtemp(prefix="prom-", dir=workdir)
        self.port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "scrape_configs:\n- job_name: nim\n  metrics_path: /v1/metrics\n"
                    f"  static_configs: [{{targets: [{', '.join(targets)}]}}]\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={self.dir}/data",
                                      f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        want = len(targets)
        while time.monotonic() < deadline:
            try:
                if self.query_value(f'count(up{{job="nim"}} == 1)') == want:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError("prometheus did not scrape every target within 60 s")

    def query_value(self, q):
        body = json.loads(http_get(f"{self.url}/api/v1/query?query={urllib.parse.quote(q)}"))
        res = body["data"]["result"]
        return float(res[0]["value"][1]) if res else None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_load(client, mode, args, target, pods, period_ms, watch_pid, callers=None):
    callers = args.callers if callers is None else callers
    cmd = [client, mode, "--callers", str(callers), "--seconds", str(args.seconds), "--period-ms", str(period_ms),
           "--threads", str(args.client_threads)]
    if mode in ("grpc", "burst"):
        cmd += ["--target", target, "--objects", str(args.objects), "--pods", ",".join(pods)]
    else:
        cmd += ["--prom", target, "--pods", ",".join(pods)]
    cpu0 = cpu_seconds(watch_pid)
    t0 = time.monotonic()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    res = json.loads(out.stdout)
    # for burst the client's own tracking pass is in `wall`; the row's CPU is over the whole run
    res["server_cpu_cores"] = (cpu_seconds(watch_pid) - cpu0) / (wall if mode == "burst" else res["seconds"])
    res["setup"] = out.stderr.strip()
    return res


def wake_trials(scaler, prom, wake_port, trials):
    """Time from a pod's waiting count going 0 -> 1 to `true` on StreamIsActive (and to the
    scrape that first served it), next to when a PromQL query first sees the change."""
    client = h.Client(grpc.insecure_channel(scaler.target))
    pod = f"http://127.0.0.1:{wake_port}"
    r = client.ref("wake", {"endpoints": f"{pod}/v1/metrics", "engine": "nim", "scrapeInterval": "2s",
                            "targetWaiting": "4"}, namespace="bench")
    client.spec(r)
    e2e, push, prom_seen = [], [], []
    rng = random.Random(7)
    for _ in range(trials):
        http_get(f"{pod}/control/set?waiting=0")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if not client.active(r) and prom.query_value(f'sum(num_requests_waiting{{instance="127.0.0.1:{wake_port}"}})') == 0:
                    break
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        w = h.StreamWatch(client.stub.StreamIsActive(r))
        time.sleep(rng.uniform(0.2, 2.2))  # a random phase against the 2 s scrape and 1 s Prometheus scrape
        seen = {}

        def poll_prom(t_start):
            q = f'sum(num_requests_waiting{{instance="127.0.0.1:{wake_port}"}})'
            while time.monotonic() - t_start < 10:
                v = prom.query_value(q)
                if v and v > 0:
                    seen["t"] = time.monotonic()
                    return
                time.sleep(0.02)

        t0 = time.monotonic()
        http_get(f"{pod}/control/set?waiting=1")
        th = threading.Thread(target=poll_prom, args=(t0,))
        th.start()
        msgs = w.wait_messages(1, 10)
        th.join()
        w.cancel()
        if not msgs:
            raise RuntimeError("no StreamIsActive true within 10 s")
        t1 = msgs[0][0]
        first = json.loads(http_get(f"{pod}/control/first_active"))
        e2e.append(t1 - t0)
        push.append(t1 - first)
        prom_seen.append(seen.get("t", float("inf")) - t0)
    return {"e2e": e2e, "push": push, "prom": prom_seen}


def pct(v, q):
    return h.percentile(v, q)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "scaler", "nim-scaler"))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--callers", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--pods", type=int, default=10)
    ap.add_argument("--wake-trials", type=int, default=20)
    ap.add_argument("--periods-ms", default="1000,100,20",
                    help="poll periods of the paced rows (each caller polls once per period)")
    ap.add_argument("--client-threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()

    os.environ["NIM_SCALER_BIN"] = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="bench-grpc-")
    os.environ["CONFORMANCE_WORK_DIR"] = work
    client = build_client(args.build_dir)

    pods_proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_pods.py"), str(args.pods + 1)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ports = [int(p) for p in pods_proc.stdout.readline().split(":", 1)[1].strip().split(",")]
    load_ports, wake_port = ports[:-1], ports[-1]
    prom = scaler = None
    results = {}
    try:
        prom = Prometheus(work, [f"127.0.0.1:{p}" for p in ports])
        scaler = h.Scaler(min_scrape="500ms", workdir=work)
        urls = [f"http://127.0.0.1:{p}/v1/metrics" for p in load_ports]
        hosts = [f"127.0.0.1:{p}" for p in load_ports]
        idle = scaler.stats()
        for label, period, callers in load_rows(args):
            results[f"grpc_{label}"] = run_load(client, "grpc", args, scaler.target, urls, period, scaler.pid, callers)
            results[f"grpc_{label}"]["server_stats"] = scaler.stats()
            results[f"promql_{label}"] = run_load(client, "promql", args, prom.url, hosts, period, prom.proc.pid,
                                                  callers)
            results[f"promql_{label}"]["server_stats"] = h.proc_stats(prom.proc.pid)
        results["grpc_burst"] = run_load(client, "burst", args, scaler.target, urls, 0, scaler.pid)
        results["scaler_idle_stats"] = idle
        cpu0, t0 = cpu_seconds(scaler.pid), time.monotonic()
        time.sleep(5)
        results["scaler_collect_cpu_cores"] = (cpu_seconds(scaler.pid) - cpu0) / (time.monotonic() - t0)
        results["scaler_tracking_stats"] = scaler.stats()
        results["wake"] = wake_trials(scaler, prom, wake_port, args.wake_trials)
    finally:
        if scaler:
            scaler.stop()
        if prom:
            prom.stop()
        pods_proc.stdin.close()
        pods_proc.wait(10)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print_table(results, args)


def load_rows(args):
    """(label, poll period in ms, callers): one caller back to back, the paced rows, closed loop."""
    rows = [("single", 0, 1)]
    rows += [(f"every{p:g}", p, None) for p in (float(x) for x in args.periods_ms.split(",") if x)]
    rows.append(("closed", 0, None))
    return rows


def describe(label, period, callers, args):
    if label == "single":
        return "1 caller, back to back"
    if label == "closed":
        return f"{args.callers} callers, closed loop"
    return f"{args.callers} callers, each polling every {period:g} ms"


def ms(us):
    return f"{us / 1000:.2f}"


def print_row(desc, kind, calls, res):
    who = "nim-scaler" if kind.startswith("grpc") else "Prometheus"
    for call in calls:
        c = res[call]
        rate = c["count"] / res["seconds"]
        print(f"| {desc} | {who} {call} | {rate:,.0f} | {ms(c['p50_us'])} | {ms(c['p90_us'])} | "
              f"{ms(c['p99_us'])} | {ms(c['p999_us'])} | {ms(c['max_us'])} | {c['errors']} | "
              f"{res['server_cpu_cores']:.2f} |")


def print_table(r, args):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\n{args.objects} tracked ScaledObjects, {args.seconds:g} s per row; "
          f"{os.cpu_count()} cores ({cpu})\n")
    print("| load | call | calls/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU (cores) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, period, callers in load_rows(args):
        desc = describe(label, period, callers, args)
        for kind, calls in ((f"grpc_{label}", ("GetMetrics", "IsActive")), (f"promql_{label}", ("PromQL query",))):
            print_row(desc, kind, calls, r[kind])
    print_row(f"operator restart: {args.objects} objects, {args.callers} in flight", "grpc_burst",
              ("GetMetricSpec", "GetMetrics", "IsActive"), r["grpc_burst"])
    w = r["wake"]
    print("\n| activation (0 -> 1 waiting request), %d trials | p50 ms | p90 ms | max ms |" % len(w["e2e"]))
    print("|---|---|---|---|")
    for key, desc in (("push", "nim-scaler: scrape that first sees it -> `true` on StreamIsActive"),
                      ("e2e", "nim-scaler: pod change -> `true` on StreamIsActive (scrapeInterval 2s)"),
                      ("prom", "Prometheus: pod change -> first PromQL answer > 0 (scrape_interval 1s; "
                               "KEDA then still waits for its next poll, pollingInterval default 30 s)")):
        v = w[key]
        print(f"| {desc} | {pct(v, 0.5) * 1e3:.1f} | {pct(v, 0.9) * 1e3:.1f} | {max(v) * 1e3:.1f} |")
    idle, trk = r["scaler_idle_stats"], r["scaler_tracking_stats"]
    print(f"\nnim-scaler process: before tracking RSS {idle['rss_kib'] / 1024:.1f} MiB, {idle['threads']} threads; "
          f"with {args.objects} tracked objects RSS {trk['rss_kib'] / 1024:.1f} MiB, {trk['threads']} threads, "
          f"{trk['fds']} fds; collection alone (no calls) {r['scaler_collect_cpu_cores']:.2f} cores. "
          f"Prometheus RSS {r['promql_closed']['server_stats']['rss_kib'] / 1024:.1f} MiB.")


if __name__ == "__main__":
    main()
