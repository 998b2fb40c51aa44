"""Test harness for the KEDA conformance suite: fake pods, the nim-scaler process, stubs.

Everything here is independent of the server's code: stubs come from this folder's own protos
(written from KEDA's externalscaler.proto), fake pods are plain Python HTTP servers, and the server is
the real `nim-scaler serve` binary started on loopback ports.
"""

import contextlib
import http.server
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
PROTO_DIR = HERE / "proto"
FIXTURE = HERE.parent / "testdata" / "engines" / "nim-llm-1.x-llama3.1-8b-datadog-fixture.prom"
# NIM_SCALER_SANITIZED=1 (scripts/sanitize.sh): the binary runs under ASan, whose allocator
# keeps freed memory and runs 2-3x slower, so RSS growth bounds and latency limits do not apply
# (LeakSanitizer checks leaks instead).
SANITIZED = os.environ.get("NIM_SCALER_SANITIZED") == "1"


# ---------------------------------------------------------------------------------------------
# Stubs


def generate_stubs(out_dir, protos):
    """Runs grpc_tools.protoc (Debian python3-grpc-tools) on protos from PROTO_DIR into out_dir."""
    from grpc_tools import protoc

    os.makedirs(out_dir, exist_ok=True)
    for name in protos:
        rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}",
                          f"--grpc_python_out={out_dir}", str(PROTO_DIR / name)])
        if rc != 0:
            raise RuntimeError(f"protoc failed on {name} (rc {rc})")
    return out_dir


_STUB_DIR = None


def stubs():
    """Imports (generating once per process) the Proto@HEAD and health stubs."""
    global _STUB_DIR
    if _STUB_DIR is None:
        base = os.environ.get("CONFORMANCE_WORK_DIR") or tempfile.mkdtemp(prefix="conformance-")
        _STUB_DIR = generate_stubs(os.path.join(base, f"stubs-head-{os.getpid()}"),
                                   ["keda_head.proto", "health.proto"])
        sys.path.insert(0, _STUB_DIR)
    import health_pb2
    import health_pb2_grpc
    import keda_head_pb2
    import keda_head_pb2_grpc
    return keda_head_pb2, keda_head_pb2_grpc, health_pb2, health_pb2_grpc


# ---------------------------------------------------------------------------------------------
# Fake pods


_FIXTURE_TEXT = None


def fixture_text():
    global _FIXTURE_TEXT
    if _FIXTURE_TEXT is None:
        _FIXTURE_TEXT = FIXTURE.read_text()
    return _FIXTURE_TEXT


def _fmt(v):
    if isinstance(v, str):
        return v
    return repr(float(v))


def nim_metrics(kv=0.0, waiting=0, running=0):
    """The real NIM 1.x capture with the three load gauges rewritten."""
    text = fixture_text()
    for name, value in (("gpu_cache_usage_perc", kv), ("num_requests_waiting", waiting),
                        ("num_requests_running", running)):
        text = re.sub(rf"^({name}\{{[^}}]*\}}) \S+$", lambda m: f"{m.group(1)} {_fmt(value)}", text,
                      flags=re.M)
    return text


class FakePod:
    """A loopback NIM pod. mode: ok | hang (accepts, never answers) | error (HTTP 500) | slow.

    port: 0 picks a free one; a fixed port brings a closed pod back at its old URL."""

    def __init__(self, kv=0.0, waiting=0, running=0, mode="ok", delay=0.0, port=0):
        self.kv, self.waiting, self.running = kv, waiting, running
        self.mode, self.delay = mode, delay
        self.hits = 0    # requests whose handler started
        self.served = 0  # responses written in full (a connection cut first counts in hits only)
        self._release = threading.Event()
        pod = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def setup(self):
                super().setup()
                # As the servers of real engines do (uvicorn's asyncio transports, Go's net/http):
                # without it, the body written after the headers waits for the scraper's delayed
                # ACK on a kept-alive connection, 40 ms per scrape on Linux.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                pod.hits += 1
                mode = pod.mode
                if mode == "hang":
                    pod._release.wait(60)  # bounded: never longer than a minute
                    self.close_connection = True
                    return
                if mode == "slow":
                    time.sleep(pod.delay)
                if mode == "error":
                    body = b"internal error\n"
                    self.send_response(500)
                else:
                    body = nim_metrics(pod.kv, pod.waiting, pod.running).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                pod.served += 1

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/metrics"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def set(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
        if self.mode != "hang":
            self._release.set()
            self._release = threading.Event()

    def close(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url():
    """A loopback URL where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1/metrics"


# ---------------------------------------------------------------------------------------------
# The server process


def proc_stats(pid):
    """RSS (KiB), thread count and open file descriptors of a process, from /proc."""
    rss = threads = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_kib": rss, "threads": threads, "fds": fds}


class Scaler:
    """`nim-scaler serve` on loopback ports; stderr goes to a log file."""

    def __init__(self, extra_args=(), min_scrape="100ms", workdir=None, env=None):
        self.binary = os.environ.get("NIM_SCALER_BIN")
        if not self.binary:
            raise RuntimeError("NIM_SCALER_BIN is not set (path of the nim-scaler binary)")
        self.workdir = workdir or tempfile.mkdtemp(prefix="conformance-scaler-")
        self.log_path = os.path.join(self.workdir, f"nim-scaler-{time.monotonic_ns()}.log")
        args = [self.binary, "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
                "--allow-static-endpoints", "--min-scrape-interval", min_scrape, *extra_args]
        self._log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)
        self.pid = self.proc.pid
        self.grpc_port = self.http_port = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = re.search(r"serving grpc_port=(\d+) http_port=(\d+)", self.log())
            if m:
                self.grpc_port, self.http_port = int(m.group(1)), int(m.group(2))
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"nim-scaler exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError(f"nim-scaler did not print its ports:\n{self.log()}")
        self.target = f"127.0.0.1:{self.grpc_port}"

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stats(self):
        return proc_stats(self.pid)

    def http_get(self, path, timeout=5):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=timeout) as r:
            return r.read().decode()

    def self_metric(self, name):
        """Sum of every sample of one of nim-scaler's own /metrics series."""
        total, seen = 0.0, False
        for line in self.http_get("/metrics").splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
        return total if seen else None

    def wait_metric(self, name, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            v = self.self_metric(name)
            if v is not None and pred(v):
                return v
            time.sleep(0.05)
        return v

    def terminate(self, timeout=15):
        """SIGTERM; returns the exit code (None if it did not exit in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


# ---------------------------------------------------------------------------------------------
# Requests


_counter = [0]
_counter_lock = threading.Lock()


def unique(prefix="so"):
    with _counter_lock:
        _counter[0] += 1
        return f"{prefix}-{os.getpid()}-{_counter[0]}"


def metadata(*urls, interval="200ms", **extra):
    md = {"endpoints": ",".join(urls), "engine": "nim", "scrapeInterval": interval}
    md.update({k: str(v) for k, v in extra.items()})
    return md


def ref(pb, name, md, namespace="conformance"):
    r = pb.ScaledObjectRef(name=name, namespace=namespace)
    for k, v in md.items():
        r.scalerMetadata[k] = v
    return r


# Hand-encoded protobuf (for byte-level checks: map order, byte-identical answers).


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def encode_ref(name, namespace, items):
    """ScaledObjectRef with map entries in exactly the given order."""
    out = _ld(1, name) + _ld(2, namespace)
    for k, v in items:
        out += _ld(3, _ld(1, k) + _ld(2, v))
    return out


def encode_get_metrics(name, namespace, items, metric_name):
    return _ld(1, encode_ref(name, namespace, items)) + _ld(2, metric_name)


@contextlib.contextmanager
def pods(*specs):
    made = [FakePod(**s) for s in specs]
    try:
        yield made
    finally:
        for p in made:
            p.close()


def percentile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[i]


# ---------------------------------------------------------------------------------------------
# Client helpers


class Client:
    """Proto@HEAD stubs over one channel, plus small helpers."""

    def __init__(self, channel):
        self.pb, pbg, self.hpb, hpbg = stubs()
        self.channel = channel
        self.stub = pbg.ExternalScalerStub(channel)
        self.health = hpbg.HealthStub(channel)

    def ref(self, name, md, namespace="conformance"):
        return ref(self.pb, name, md, namespace)

    def req(self, r, metric_name):
        return self.pb.GetMetricsRequest(scaledObjectRef=r, metricName=metric_name)

    def spec(self, r, timeout=5):
        return self.stub.GetMetricSpec(r, timeout=timeout)

    def metrics(self, r, metric_name, timeout=5):
        return self.stub.GetMetrics(self.req(r, metric_name), timeout=timeout)

    def active(self, r, timeout=5):
        return self.stub.IsActive(r, timeout=timeout).result

    def health_status(self, service="", timeout=5):
        return self.health.Check(self.hpb.HealthCheckRequest(service=service), timeout=timeout).status

    def wait_value(self, r, metric_name, pred, timeout=5.0):
        """Polls GetMetrics until pred(float value) holds; returns the last MetricValue."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.metrics(r, metric_name).metricValues[0]
                if pred(last.metricValueFloat):
                    return last
            except Exception:  # noqa: BLE001 - not ready yet
                pass
            time.sleep(0.05)
        return last


def bounded(call_future, wait_s):
    """Waits at most wait_s for a grpc future started WITHOUT a deadline.

    Returns (outcome, elapsed_s) where outcome is "OK" or the status code name, or "HUNG" when
    no answer arrived in time (the call is then cancelled so the test stays bounded)."""
    t0 = time.monotonic()
    try:
        call_future.result(timeout=wait_s)
        return "OK", time.monotonic() - t0
    except Exception as e:  # noqa: BLE001
        import grpc
        if isinstance(e, grpc.RpcError) and hasattr(e, "code"):
            return e.code().name, time.monotonic() - t0
        if isinstance(e, grpc.FutureTimeoutError):
            call_future.cancel()
            return "HUNG", time.monotonic() - t0
        raise


class StreamWatch:
    """Reads one server stream on a thread, recording (monotonic time, message) and the end."""

    def __init__(self, call, value=lambda m: m.result):
        self.call = call
        self.opened = time.monotonic()
        self.msgs = []
        self.code = None
        self.details = None
        self.ended_at = None
        self._value = value
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        import grpc
        try:
            for m in self.call:
                with self._cv:
                    self.msgs.append((time.monotonic(), self._value(m)))
                    self._cv.notify_all()
            code, details = self.call.code(), self.call.details()
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
        with self._cv:
            self.code, self.details, self.ended_at = code, details, time.monotonic()
            self._cv.notify_all()

    def wait_messages(self, n, timeout):
        with self._cv:
            self._cv.wait_for(lambda: len(self.msgs) >= n or self.code is not None, timeout)
            return list(self.msgs)

    def wait_done(self, timeout):
        with self._cv:
            self._cv.wait_for(lambda: self.code is not None, timeout)
            return self.code

    def cancel(self):
        self.call.cancel()
