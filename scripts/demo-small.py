#!/usr/bin/python3
"""Small end-to-end demo: one emulated NIM pod on loopback whose load changes, nim-scaler
serving it, and a client that calls nim-scaler exactly as KEDA does (GetMetricSpec,
GetMetrics, IsActive every poll; StreamIsActive for external-push). Prints what KEDA and
the HPA would see. Ends by itself in about 30 seconds.

Usage: scripts/demo-small.py BUILD_DIR
"""
import http.server
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
gen = os.path.join(build, "demo-py")
os.makedirs(gen, exist_ok=True)
subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(root, "proto"),
                "--python_out", gen, "--grpc_python_out", gen, "externalscaler.proto"], check=True)
sys.path.insert(0, gen)
import grpc  # noqa: E402
import externalscaler_pb2 as pb  # noqa: E402
import externalscaler_pb2_grpc as pbg  # noqa: E402

CAPTURE = open(os.path.join(root, "tests/testdata/engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom")).read()

# The load over time: (seconds, KV-cache fraction, running, waiting). 0.208 is the value
# the NVIDIA article's HPA saw at concurrency ~200 against a 0.1 target.
PHASES = [(0, 0.0, 0, 0), (6, 0.094, 100, 0), (12, 0.208, 200, 0), (18, 0.409, 256, 40), (24, 0.0, 0, 0)]
END = 30
state = {"kv": 0.0, "running": 0, "waiting": 0}


def body():
    text = CAPTURE
    for metric, value in (("gpu_cache_usage_perc", state["kv"]), ("num_requests_running", state["running"]),
                          ("num_requests_waiting", state["waiting"])):
        text = re.sub(r"^(%s(\{[^}]*\})?) \S+" % metric, r"\g<1> %s" % float(value), text, flags=re.M)
    return text.encode()


class Pod(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        data = body()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


pod = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pod)
threading.Thread(target=pod.serve_forever, daemon=True).start()
pod_url = "http://127.0.0.1:%d/v1/metrics" % pod.server_address[1]

log = tempfile.NamedTemporaryFile(prefix="nim-scaler-demo-", suffix=".log", delete=False)
scaler = subprocess.Popen([os.path.join(build, "scaler/nim-scaler"), "serve", "--grpc-addr", "127.0.0.1:0",
                           "--http-addr", "127.0.0.1:0", "--allow-static-endpoints"],
                          stderr=subprocess.PIPE, text=True)
grpc_port = None
while grpc_port is None:
    line = scaler.stderr.readline()
    if not line:
        sys.exit("nim-scaler did not start")
    log.write(line.encode())
    m = re.search(r"serving grpc_port=(\d+) http_port=(\d+)", line)
    if m:
        grpc_port, http_port = m.group(1), m.group(2)


def drain():
    for line in scaler.stderr:
        log.write(line.encode())
        log.flush()


threading.Thread(target=drain, daemon=True).start()

channel = grpc.insecure_channel("127.0.0.1:" + grpc_port)
stub = pbg.ExternalScalerStub(channel)
ref = pb.ScaledObjectRef(name="meta-llama3-8b", namespace="nim", scalerMetadata={
    "scalerAddress": "nim-scaler.nim-scaler.svc:9090", "endpoints": pod_url, "engine": "nim",
    "targetKvCache": "0.1", "scrapeInterval": "1s"})

print("nim-scaler demo: one emulated NIM pod (llama-3.1-8b) at %s" % pod_url)
print("ScaledObject metadata: engine=nim targetKvCache=0.1 scrapeInterval=1s (the NVIDIA article's target)")
print("nim-scaler log: %s; its own metrics: http://127.0.0.1:%s/metrics\n" % (log.name, http_port))
spec = stub.GetMetricSpec(ref)
name = spec.metricSpecs[0].metricName
print("GetMetricSpec -> metricName=%s targetSizeFloat=%g (KEDA shows it as s0-%s)\n" %
      (name, spec.metricSpecs[0].targetSizeFloat, name))

pushes = []
start = time.time()


def watch_stream():
    try:
        for msg in stub.StreamIsActive(ref):
            pushes.append(time.time() - start)
    except grpc.RpcError:
        pass


threading.Thread(target=watch_stream, daemon=True).start()

print("%5s  %-8s %-7s %-7s | %-10s %-8s %-8s %-9s %s" % ("t(s)", "pod KV", "running", "waiting", "metricVal",
                                                        "int", "IsActive", "HPA wants", "pushes"))
while True:
    t = time.time() - start
    if t > END:
        break
    for at, kv, running, waiting in PHASES:
        if t >= at:
            state.update(kv=kv, running=running, waiting=waiting)
    try:
        resp = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName=name))
        v = resp.metricValues[0]
        active = stub.IsActive(ref).result
        # HPA with AverageValue target 1: desired = ceil(value) (10% tolerance ignored here).
        shown = "%-10g %-8d %-8s %-9d" % (v.metricValueFloat, v.metricValue, active, math.ceil(v.metricValueFloat))
    except grpc.RpcError as e:
        shown = "%s: %s" % (e.code().name, e.details()[:60])
    print("%5.1f  %-8g %-7d %-7d | %s %s" % (t, state["kv"], state["running"], state["waiting"], shown,
                                           ",".join("%.1f" % p for p in pushes) or "-"))
    time.sleep(1.0)

print("\nStreamIsActive pushed `true` at t=%s (only on inactive->active edges, never `false`)." %
      (", ".join("%.1fs" % p for p in pushes) or "never"))
scaler.send_signal(signal.SIGTERM)
scaler.wait(timeout=15)
pod.shutdown()
print("nim-scaler exited with status %d after SIGTERM." % scaler.returncode)
