#!/usr/bin/python3
"""make soak: the real `nim-scaler serve` under pod churn and KEDA-like callers (issue 19).

Ten minutes by default (--minutes, or SOAK_MINUTES). Everything runs on 127.0.0.1:

- 30 fake NIM pods (tests/conformance/harness.py FakePod) in a child process of their own, so the
  callers' Python threads do not slow the pods down. Their gauges drift at random. A killer loop
  takes a random pod down for a few seconds at a time (listener closed, open keep-alive
  connections shut, the port held by a bound, non-listening socket, so scrapes are refused) and
  brings it back at the same URL.
- the scaler with --allow-static-endpoints; 300 triggers, each reading 1-3 of the pods through
  the static `endpoints` metadata (scrapeInterval 2s unless --interval).
- 50 caller threads, each polling its share of the triggers with GetMetrics then IsActive about
  once per --call-period (KEDA's calls, paced, with a 5 s deadline), and 20 StreamIsActive
  streams open for the whole run.

Checks (any violation makes the exit status 1; G, the grace, is 2 scrape intervals):

(a) errors: every gRPC status other than OK and UNAVAILABLE is a violation. UNAVAILABLE is
    allowed only for a call whose [sent, answered] span meets [A - G, B + G] for an interval
    [A, B] during which all of that trigger's pods were down. A pod counts as down from the
    moment its kill was requested until its restart was acknowledged (the widest honest span).
    A stream that ends before the teardown is a violation too.
(b) floor: for each kill of a pod p and each trigger T reading p, the reference F is the
    lowest of (the last GetMetrics value for T answered before the kill was requested) and
    (every value answered from then until G after the kill was acknowledged). The scaler has
    up to one interval to notice the pod is gone, and its floor is the value of its last cycle
    with the pod; values of that cycle can be answered only in that span, so taking the lowest
    one is what the scaler can honestly be held to, and a pod value that legitimately changed
    just before the kill is not miscounted. Every GetMetrics value for T sent at least G after
    the kill was acknowledged and answered before the restart was requested must be >= F
    (less 1e-6). The summary also shows, for information, how many were below the last value
    answered before the kill alone (the brief's literal reference).
(c) memory: the scaler's RSS (/proc) every 10 s; the least-squares slope of the samples of the
    run's second half (at least one minute in) must stay under 0.1 MiB/min. A leak grows at the
    same rate in both halves; what the first half also holds is the allocator settling and
    gRPC's first reconnects at --max-connection-age (5 min): a 20-minute run rose 37.7 -> 39.1 MiB
    between minutes 5 and 8 and stayed at 39.0-39.6 for the last 12 (BENCHMARKS.md "Soak"). The
    slope after the first minute is shown too, for information.

The scaler must also still be running at the end and exit 0 on SIGTERM. Every loop is bounded
by the run's deadline; Ctrl-C or SIGTERM tears everything down (streams, channels, the scaler,
the pod process) and exits 130.

    /usr/bin/python3 scripts/soak.py [--minutes 10] [--binary build/scaler/nim-scaler]
"""

import argparse
import functools
import http.server
import multiprocessing
import os
import pathlib
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, str(ROOT / "tests" / "conformance"))

import harness as h  # noqa: E402

NAMESPACE = "soak"
TOLERANCE = 1e-6


# ---------------------------------------------------------------------------------------------
# The pod process


def _hold_port(port):
    """A bound, non-listening socket on port: connections are refused and no other socket
    (an ephemeral client port, say) can take the port while the pod is down."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    return s


def _track_connections():
    """Makes every ThreadingHTTPServer of this (pod) process remember the connections it
    accepted, so a kill can cut them too (http.server keeps serving open keep-alive connections
    after the listener closes). Patched on the class before any pod starts: a hook set on a
    running server would miss the connections accepted before it (a restarted pod is reconnected
    to within microseconds), and one missed keep-alive connection keeps a killed pod alive."""
    cls = http.server.ThreadingHTTPServer
    serve = cls.process_request

    def process_request(self, request, client_address):
        conns = self.__dict__.setdefault("soak_connections", set())
        for c in [c for c in conns if c.fileno() == -1]:
            conns.discard(c)
        conns.add(request)
        serve(self, request, client_address)

    cls.process_request = process_request
    cls.handle_error = lambda self, request, client_address: None  # a cut connection is expected


def _kill(pod):
    pod.close()  # stops the accept loop (up to its 0.5 s poll) and closes the listener
    for c in list(pod.server.__dict__.get("soak_connections", ())):
        try:
            c.shutdown(socket.SHUT_RDWR)  # the handler thread sees EOF and closes it
        except OSError:
            pass
    return _hold_port(pod.port)


def _drift(state, rng):
    kv, waiting, running = state
    r = rng.random()
    if r < 0.1:
        return (0.0, 0, 0)  # idle
    if r < 0.15:
        return (0.9, rng.randint(10, 24), rng.randint(16, 32))  # burst
    kv = min(0.95, max(0.0, round(kv + rng.choice((-0.1, -0.05, 0.05, 0.1)), 2)))
    waiting = min(24, max(0, waiting + rng.randint(-4, 4)))
    running = min(32, max(0, running + rng.randint(-4, 4)))
    return (kv, waiting, running)


def pod_host(conn, n, seed, change_every_s):
    """Runs n FakePods; serves ("kill", i), ("restart", i) and ("stop",) from conn.

    Gauges drift on their own (one pod about every change_every_s / n seconds). Exits when told
    to, when the pipe closes, or when the parent is gone; every wait is bounded."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent tears down on Ctrl-C
    parent = os.getppid()
    rng = random.Random(seed + 1)
    # Bodies depend only on the three gauges, which take few values: render each set once.
    h.nim_metrics = functools.lru_cache(maxsize=8192)(h.nim_metrics)
    _track_connections()
    # (pod object, its responses written when killed): a killed pod must serve nothing. Responses
    # written, not requests begun: a handler that read its request just before the kill cut the
    # connection fails to answer, and counting it would blame the scaler for the harness's race.
    killed = []
    state = [(round(rng.uniform(0, 0.6), 2), rng.randint(0, 8), rng.randint(0, 16)) for _ in range(n)]
    pods = []
    for i in range(n):
        kv, w, r = state[i]
        p = h.FakePod(kv=kv, waiting=w, running=r)
        pods.append(p)
    ports = [p.port for p in pods]
    held = [None] * n  # the port-holding socket of a pod that is down
    conn.send(("ready", ports))
    tick = 0.2
    try:
        while os.getppid() == parent:
            if conn.poll(tick):
                try:
                    msg = conn.recv()
                except EOFError:
                    break
                if msg[0] == "stop":
                    time.sleep(0.2)
                    conn.send(("stopped", sum(p.served - served for p, served in killed)))
                    break
                i = msg[1]
                if msg[0] == "kill" and held[i] is None:
                    held[i] = _kill(pods[i])
                    killed.append((pods[i], pods[i].served))
                    conn.send(("killed", i, time.monotonic()))
                elif msg[0] == "restart" and held[i] is not None:
                    held[i].close()
                    ok = False
                    for _ in range(40):  # bounded: 2 s
                        try:
                            kv, w, r = state[i]
                            p = h.FakePod(kv=kv, waiting=w, running=r, port=ports[i])
                        except OSError:
                            time.sleep(0.05)
                            continue
                        pods[i], held[i], ok = p, None, True
                        break
                    if not ok:  # the port was taken meanwhile: stay down, refused or not
                        held[i] = _hold_port_or_dummy(ports[i])
                    conn.send(("restarted", i, time.monotonic(), ok))
                else:
                    conn.send(("noop", i, time.monotonic()))
            # about one change per pod every change_every_s seconds
            for i in range(n):
                if rng.random() < tick / change_every_s:
                    state[i] = _drift(state[i], rng)
                    if held[i] is None:
                        kv, w, r = state[i]
                        pods[i].set(kv=kv, waiting=w, running=r)
    finally:
        for i in range(n):
            if held[i] is not None:
                held[i].close()
            else:
                pods[i].close()


def _hold_port_or_dummy(port):
    try:
        return _hold_port(port)
    except OSError:
        return socket.socket()


class PodHost:
    """The parent's handle on the pod process; one thread (the killer) talks to it at a time."""

    def __init__(self, n, seed, change_every_s):
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that runs gRPC
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=pod_host, args=(child, n, seed, change_every_s), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(60):
            raise RuntimeError("the pod process did not start in 60 s")
        kind, self.ports = self.conn.recv()
        self.urls = [f"http://127.0.0.1:{p}/v1/metrics" for p in self.ports]

    def _ask(self, msg):
        self.conn.send(msg)
        if not self.conn.poll(30):
            raise RuntimeError(f"the pod process did not answer {msg} in 30 s")
        return self.conn.recv()

    def kill(self, i):
        return self._ask(("kill", i))

    def restart(self, i):
        return self._ask(("restart", i))

    def stop(self):
        """Stops the pod process; returns how many requests killed pods served (must be 0)."""
        served_while_killed = None
        try:
            self.conn.send(("stop",))
            if self.conn.poll(10):
                served_while_killed = self.conn.recv()[1]
        except (OSError, ValueError, EOFError):
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.conn.close()
        return served_while_killed


# ---------------------------------------------------------------------------------------------
# The load


class Trigger:
    def __init__(self, index, pods, urls, interval, client):
        self.index = index
        self.pods = pods
        self.name = f"soak-{index}"
        self.md = h.metadata(*[urls[p] for p in pods], interval=interval)
        self.ref = client.ref(self.name, self.md, namespace=NAMESPACE)
        self.metric = None


class Record:
    __slots__ = ("trigger", "kind", "sent", "answered", "code", "value", "details")

    def __init__(self, trigger, kind, sent, answered, code, value=None, details=None):
        self.trigger, self.kind, self.sent, self.answered = trigger, kind, sent, answered
        self.code, self.value, self.details = code, value, details


def caller(client, triggers, period, deadline, stop, out, rng):
    """Polls each of its triggers with GetMetrics then IsActive about once per period."""
    import grpc
    due = {t.index: time.monotonic() + rng.uniform(0, period) for t in triggers}
    by_index = {t.index: t for t in triggers}
    while not stop.is_set():
        idx = min(due, key=due.get)
        wait = due[idx] - time.monotonic()
        if wait > 0 and stop.wait(min(wait, 1.0)):
            break
        if due[idx] > time.monotonic():
            continue
        if time.monotonic() >= deadline:
            break
        t = by_index[idx]
        for kind in ("metrics", "active"):
            sent = time.monotonic()
            try:
                if kind == "metrics":
                    resp = client.stub.GetMetrics(client.req(t.ref, t.metric), timeout=5)
                    value = resp.metricValues[0].metricValueFloat if resp.metricValues else None
                else:
                    value = client.stub.IsActive(t.ref, timeout=5).result
                out.append(Record(idx, kind, sent, time.monotonic(), "OK", value))
            except grpc.RpcError as e:
                out.append(Record(idx, kind, sent, time.monotonic(), e.code().name, None, (e.details() or "")[:300]))
        due[idx] = time.monotonic() + period * rng.uniform(0.7, 1.3)


def killer(pods, n, deadline, stop, events, rng, log, max_down, down_s):
    """Takes a random pod down every 0.5-2.5 s (at most max_down at once) for down_s seconds."""
    down = {}  # pod -> (event, restart due)
    next_kill = time.monotonic() + rng.uniform(0.5, 2.5)
    while not stop.is_set() and time.monotonic() < deadline:
        now = time.monotonic()
        for p, (ev, due) in list(down.items()):
            if now >= due:
                ev["restart_sent"] = time.monotonic()
                reply = pods.restart(p)
                if reply[0] == "restarted" and reply[3]:
                    ev["restart_ack"] = time.monotonic()
                    del down[p]
                else:
                    log.append(f"pod {p}: restart failed (port taken); stays down, retried")
                    ev.pop("restart_sent")
                    down[p] = (ev, now + 1.0)
        if now >= next_kill and len(down) < max_down:
            p = rng.choice([i for i in range(n) if i not in down])
            ev = {"pod": p, "kill_sent": time.monotonic()}
            pods.kill(p)
            ev["kill_ack"] = time.monotonic()
            events.append(ev)
            down[p] = (ev, ev["kill_ack"] + rng.uniform(*down_s))
            next_kill = time.monotonic() + rng.uniform(0.5, 2.5)
        stop.wait(0.05)
    for p, (ev, _) in list(down.items()):  # every pod back up before the end
        ev["restart_sent"] = time.monotonic()
        reply = pods.restart(p)
        if reply[0] == "restarted" and reply[3]:
            ev["restart_ack"] = time.monotonic()


def rss_sampler(scaler, every, stop, out):
    while True:
        try:
            st = scaler.stats()
        except OSError:
            return
        out.append((time.monotonic(), st["rss_kib"], st["threads"], st["fds"]))
        if stop.wait(every):
            return


# ---------------------------------------------------------------------------------------------
# Checks


def down_intervals(events, end):
    """pod -> [(down_from, down_until)]: from the kill request to the restart acknowledgement."""
    out = {}
    for ev in events:
        out.setdefault(ev["pod"], []).append((ev["kill_sent"], ev.get("restart_ack", end)))
    return out


def all_down(pods, down, end):
    """Intervals during which every pod in pods was down (intersection of their down spans)."""
    spans = [(float("-inf"), end)]
    for p in pods:
        mine = down.get(p, [])
        spans = [(max(a, c), min(b, d)) for a, b in spans for c, d in mine if max(a, c) < min(b, d)]
        if not spans:
            break
    return spans


def check_errors(records, triggers, down, end, grace):
    violations, unavailable_ok = [], 0
    allowed = {t.index: all_down(t.pods, down, end) for t in triggers}
    for r in records:
        if r.code == "OK":
            continue
        if r.code == "UNAVAILABLE" and any(r.sent <= b + grace and r.answered >= a - grace
                                           for a, b in allowed[r.trigger]):
            unavailable_ok += 1
            continue
        violations.append(r)
    return violations, unavailable_ok


def check_floor(records, triggers, events, grace):
    by_trigger = {}
    for r in records:
        if r.kind == "metrics" and r.code == "OK" and r.value is not None:
            by_trigger.setdefault(r.trigger, []).append(r)
    for rs in by_trigger.values():
        rs.sort(key=lambda r: r.answered)
    readers = {}
    for t in triggers:
        for p in t.pods:
            readers.setdefault(p, []).append(t.index)
    violations, literal_below, checked, windows = [], 0, 0, 0
    for ev in events:
        if "restart_sent" not in ev:
            continue
        for ti in readers.get(ev["pod"], []):
            rs = by_trigger.get(ti, [])
            before = [r for r in rs if r.answered < ev["kill_sent"]]
            if not before:
                continue
            literal = before[-1].value
            near = [r.value for r in rs if ev["kill_sent"] <= r.answered < ev["kill_ack"] + grace]
            floor = min([literal] + near)
            window = [r for r in rs if r.sent >= ev["kill_ack"] + grace and r.answered <= ev["restart_sent"]]
            if window:
                windows += 1
            for r in window:
                checked += 1
                if r.value < literal - TOLERANCE:
                    literal_below += 1
                if r.value < floor - TOLERANCE:
                    violations.append((ev, ti, floor, literal, r))
    return violations, literal_below, checked, windows


def slope_mib_per_min(samples, t0):
    pts = [(t - t0, rss / 1024.0) for t, rss, _, _ in samples]
    if len(pts) < 3:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / sxx * 60.0


def self_test():
    """The checks on made-up records: each must flag what it should and pass what it should."""
    class T:  # noqa: N801 - a stand-in for Trigger
        def __init__(self, index, pods):
            self.index, self.pods = index, pods
    triggers = [T(0, [0, 1]), T(1, [1])]
    g = 4.0
    # pod 1 down 10-30 (both pods of trigger 1), pod 0 down 20-25: trigger 0 all down 20-25.
    events = [{"pod": 1, "kill_sent": 10.0, "kill_ack": 10.5, "restart_sent": 30.0, "restart_ack": 30.2},
              {"pod": 0, "kill_sent": 20.0, "kill_ack": 20.4, "restart_sent": 25.0, "restart_ack": 25.1}]
    down = down_intervals(events, 100.0)
    recs = [Record(0, "metrics", 17.0, 17.1, "UNAVAILABLE"),   # allowed: within the grace before 20
            Record(0, "metrics", 28.0, 28.1, "UNAVAILABLE"),   # allowed: 25.1 + 4 >= 28
            Record(0, "metrics", 31.0, 31.1, "UNAVAILABLE"),   # violation: too late
            Record(1, "active", 12.0, 12.1, "UNAVAILABLE"),    # allowed: its only pod is down
            Record(1, "metrics", 50.0, 50.1, "UNAVAILABLE"),   # violation: pod 1 up since 30.2
            Record(0, "active", 40.0, 40.1, "DEADLINE_EXCEEDED")]  # violation: not UNAVAILABLE
    bad, allowed = check_errors(recs, triggers, down, 100.0, g)
    assert allowed == 3 and [(r.trigger, r.sent) for r in bad] == [(0, 31.0), (1, 50.0), (0, 40.0)], bad
    vals = [Record(0, "metrics", 9.0, 9.1, "OK", 5.0),     # last before the kill of pod 1: 5
            Record(0, "metrics", 11.0, 11.1, "OK", 4.5),   # within the grace: the floor becomes 4.5
            Record(0, "metrics", 16.0, 16.1, "OK", 4.5),   # checked, at the floor
            Record(0, "metrics", 18.0, 18.1, "OK", 6.0),   # checked, above
            Record(0, "metrics", 26.0, 26.1, "OK", 4.4),   # checked, below the floor: violation
            Record(0, "metrics", 31.0, 31.1, "OK", 1.0)]   # after the restart request: not checked
    bad, literal, checked, windows = check_floor(vals, triggers, events, g)
    assert [(v[1], v[4].sent, v[2]) for v in bad] == [(0, 26.0, 4.5)], bad
    assert literal == 2 and checked == 3 and windows == 1, (literal, checked, windows)
    assert abs(slope_mib_per_min([(t, 1024 * (100 + t / 60.0), 0, 0) for t in range(0, 600, 10)], 0) - 1.0) < 1e-9
    print("soak: self-test passed (the error, floor and slope checks flag made-up violations)")
    return 0


# ---------------------------------------------------------------------------------------------
# Main


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "10")))
    ap.add_argument("--binary", default=os.environ.get("NIM_SCALER_BIN", str(ROOT / "build/scaler/nim-scaler")))
    ap.add_argument("--triggers", type=int, default=300)
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--callers", type=int, default=50)
    ap.add_argument("--streams", type=int, default=20)
    ap.add_argument("--interval", type=float, default=2.0, help="scrapeInterval of every trigger, seconds")
    ap.add_argument("--call-period", type=float, default=1.0, help="seconds between two polls of one trigger")
    ap.add_argument("--max-down", type=int, default=6, help="most pods down at once")
    ap.add_argument("--down-min", type=float, default=2.0)
    ap.add_argument("--down-max", type=float, default=12.0)
    ap.add_argument("--value-change", type=float, default=5.0, help="mean seconds between changes of a pod's gauges")
    ap.add_argument("--rss-every", type=float, default=10.0)
    ap.add_argument("--rss-warmup", type=float, default=60.0)
    ap.add_argument("--max-slope", type=float, default=0.1, help="MiB/min")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "19")))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (scaler log) even on success")
    ap.add_argument("--self-test", action="store_true", help="only check the checks on made-up records")
    ap.add_argument("--dump", help="write every call, kill and RSS sample to this file (JSON lines)")
    return ap.parse_args()


class Interrupted(Exception):
    pass


def _on_sigterm(signum, frame):
    raise Interrupted()


def fmt_t(t, t0):
    return f"{t - t0:7.1f}s"


def main():
    args = parse_args()
    if args.self_test:
        return self_test()
    signal.signal(signal.SIGTERM, _on_sigterm)
    if not os.access(args.binary, os.X_OK):
        print(f"soak: {args.binary} is not an executable (build it: cmake --build build --target nim-scaler)")
        return 2
    os.environ["NIM_SCALER_BIN"] = os.path.abspath(args.binary)
    workdir = tempfile.mkdtemp(prefix="nim-soak-")
    os.environ["CONFORMANCE_WORK_DIR"] = workdir
    rng = random.Random(args.seed)
    interval = f"{int(args.interval * 1000)}ms"
    grace = 2 * args.interval
    duration = args.minutes * 60.0

    pods = scaler = None
    channels, streams, threads = [], [], []
    stop = threading.Event()
    records_per_caller = [[] for _ in range(args.callers)]
    events, notes, rss, stream_ends = [], [], [], []
    served_while_killed = None
    interrupted = False
    import grpc
    try:
        print(f"soak: {args.minutes:g} min, {args.triggers} triggers over {args.pods} pods, "
              f"{args.callers} callers, {args.streams} streams, scrapeInterval {interval}, seed {args.seed}")
        pods = PodHost(args.pods, args.seed, args.value_change)
        scaler = h.Scaler(workdir=workdir)
        print(f"soak: nim-scaler pid {scaler.pid} grpc {scaler.target} log {scaler.log_path}")
        opts = [("grpc.use_local_subchannel_pool", 1)]
        channels = [grpc.insecure_channel(scaler.target, options=opts) for _ in range(6)]
        clients = [h.Client(ch) for ch in channels]
        triggers = []
        for i in range(args.triggers):
            chosen = sorted(rng.sample(range(args.pods), rng.randint(1, 3)))
            triggers.append(Trigger(i, chosen, pods.urls, interval, clients[0]))
        for t in triggers:
            t.metric = clients[0].spec(t.ref).metricSpecs[0].metricName
        t0 = time.monotonic()
        deadline = t0 + duration
        threads.append(threading.Thread(target=rss_sampler, args=(scaler, args.rss_every, stop, rss), daemon=True))
        for c in range(args.callers):
            mine = triggers[c::args.callers]
            th = threading.Thread(target=caller, daemon=True,
                                  args=(clients[c % 5], mine, args.call_period, deadline, stop,
                                        records_per_caller[c], random.Random(args.seed * 1000 + c)))
            threads.append(th)
        for th in threads:
            th.start()
        for t in rng.sample(triggers, min(args.streams, len(triggers))):
            streams.append([t, h.StreamWatch(clients[5].stub.StreamIsActive(t.ref))])
        # Kills start once every trigger has had its first answers.
        kill_start = t0 + min(15.0, duration / 4)
        kth = threading.Thread(target=lambda: (stop.wait(max(0.0, kill_start - time.monotonic())) or killer(
            pods, args.pods, deadline - 3 * args.interval, stop, events, random.Random(args.seed + 7), notes,
            args.max_down, (args.down_min, args.down_max))), daemon=True)
        kth.start()
        threads.append(kth)
        last_print = t0
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if time.monotonic() - last_print >= 60:
                last_print = time.monotonic()
                done = sum(len(r) for r in records_per_caller)
                rss_now = f"{rss[-1][1] / 1024:.1f} MiB" if rss else "-"
                print(f"soak: {fmt_t(last_print, t0)} calls {done} kills {len(events)} rss {rss_now}", flush=True)
            if scaler.proc.poll() is not None:
                notes.append(f"nim-scaler exited during the run with {scaler.proc.returncode}")
                break
            # A stream the server ends with OK (--max-connection-age, 5 min) is reopened, as KEDA
            # does; any other end is an error (and is reopened too).
            for slot in streams:
                t, w = slot
                if w.code is not None and time.monotonic() < deadline - 1:
                    stream_ends.append((t, w.code.name, w.details, w.ended_at, len(w.msgs)))
                    slot[1] = h.StreamWatch(clients[5].stub.StreamIsActive(t.ref))
        end = time.monotonic()
    except (KeyboardInterrupt, Interrupted):
        interrupted = True
        end = time.monotonic()
    finally:
        stop.set()
        for th in threads:
            th.join(15)
        stream_state = [(t, w.code, w.details, len(w.msgs)) for t, w in streams]
        for t, w in streams:
            if w.code is not None:
                stream_ends.append((t, w.code.name, w.details, w.ended_at, len(w.msgs)))
        for _, w in streams:
            w.cancel()
        for ch in channels:
            ch.close()
        alive_at_end = scaler is not None and scaler.proc.poll() is None
        exit_code = scaler.terminate(20) if scaler is not None else None
        if scaler is not None:
            scaler.stop()
        served_while_killed = pods.stop() if pods is not None else None
    if interrupted:
        print(f"soak: interrupted; torn down (scaler exit {exit_code}); work dir {workdir}")
        return 130

    records = [r for rs in records_per_caller for r in rs]
    if args.dump:
        import json
        with open(args.dump, "w") as f:
            for t in triggers:
                f.write(json.dumps({"trigger": t.index, "pods": t.pods}) + "\n")
            for ev in events:
                f.write(json.dumps({"event": {k: (v - t0 if k != "pod" else v) for k, v in ev.items()}}) + "\n")
            for r in records:
                f.write(json.dumps({"call": r.kind, "trigger": r.trigger, "sent": r.sent - t0,
                                    "answered": r.answered - t0, "code": r.code, "value": r.value,
                                    "details": r.details}) + "\n")
            for t, kib, threads_n, fds in rss:
                f.write(json.dumps({"rss_kib": kib, "at": t - t0, "threads": threads_n, "fds": fds}) + "\n")
    down = down_intervals(events, end)
    err_violations, unavailable_ok = check_errors(records, triggers, down, end, grace)
    floor_violations, literal_below, checked, windows = check_floor(records, triggers, events, grace)
    warm = [s for s in rss if s[0] >= t0 + args.rss_warmup]
    slope_after_warmup = slope_mib_per_min(warm, t0)
    half = max(args.rss_warmup, (end - t0) / 2)
    judged = [s for s in rss if s[0] >= t0 + half]
    slope = slope_mib_per_min(judged, t0)
    stream_errors = [(t, code, details, at) for t, code, details, at, _ in stream_ends if code != "OK"]
    stream_ok_ends = [e for e in stream_ends if e[1] == "OK"]
    stream_msgs = sum(s[3] for s in stream_state) + sum(e[4] for e in stream_ends)
    codes = {}
    for r in records:
        codes[(r.kind, r.code)] = codes.get((r.kind, r.code), 0) + 1
    all_down_spans = sum(len(all_down(t.pods, down, end)) for t in triggers)

    failures = []
    if err_violations:
        failures.append(f"{len(err_violations)} gRPC errors outside the allowed UNAVAILABLE spans")
    if stream_errors:
        failures.append(f"{len(stream_errors)} streams ended with an error")
    if served_while_killed != 0:
        failures.append(f"soak harness: killed pods served {served_while_killed} requests (a kill did not take)")
    if floor_violations:
        failures.append(f"{len(floor_violations)} GetMetrics values below the floor")
    if slope is None:
        failures.append("too few RSS samples in the run's second half for a slope (run at least 2 minutes)")
    elif slope >= args.max_slope:
        failures.append(f"RSS slope {slope:.3f} MiB/min >= {args.max_slope}")
    if not alive_at_end:
        failures.append("nim-scaler was not running at the end")
    if exit_code != 0:
        failures.append(f"nim-scaler exited with {exit_code} on SIGTERM (expected 0)")

    ok = lambda k: codes.get((k, "OK"), 0)  # noqa: E731
    total = lambda k: sum(v for (kk, _), v in codes.items() if kk == k)  # noqa: E731
    rows = [
        ("duration", f"{(end - t0) / 60:.1f} min (seed {args.seed}, scrapeInterval {interval}, grace {grace:g} s)"),
        ("triggers / pods / callers / streams", f"{args.triggers} / {args.pods} / {args.callers} / {len(streams)}"),
        ("pod kills (restarts)", f"{len(events)} ({sum(1 for e in events if 'restart_ack' in e)}); "
                                 f"down {args.down_min:g}-{args.down_max:g} s, at most {args.max_down} at once"),
        ("spans with all of a trigger's pods down", f"{all_down_spans}"),
        ("GetMetrics calls (OK)", f"{total('metrics')} ({ok('metrics')})"),
        ("IsActive calls (OK)", f"{total('active')} ({ok('active')})"),
        ("UNAVAILABLE, all pods down (allowed)", f"{unavailable_ok}"),
        ("(a) other errors / misplaced UNAVAILABLE", f"{len(err_violations)}"),
        ("(a) streams ended with an error", f"{len(stream_errors)}"),
        ("    streams ended OK (max connection age), reopened", f"{len(stream_ok_ends)}"),
        ("    stream messages (true)", f"{stream_msgs}"),
        ("requests served by killed pods (must be 0)", f"{served_while_killed}"),
        ("(b) values checked (kill x trigger windows)", f"{checked} ({windows})"),
        ("(b) below the floor", f"{len(floor_violations)}"),
        ("    info: below the last pre-kill answer alone", f"{literal_below}"),
        ("(c) RSS first / last / max", (f"{rss[0][1] / 1024:.1f} / {rss[-1][1] / 1024:.1f} / "
                                        f"{max(s[1] for s in rss) / 1024:.1f} MiB") if rss else "-"),
        ("(c) RSS slope, second half of the run", f"{slope:.4f} MiB/min ({len(judged)} samples)" if slope is not None else "-"),
        ("    info: RSS slope after the first minute",
         f"{slope_after_warmup:.4f} MiB/min ({len(warm)} samples)" if slope_after_warmup is not None else "-"),
        ("threads / fds first -> last", f"{rss[0][2]} -> {rss[-1][2]} / {rss[0][3]} -> {rss[-1][3]}" if rss else "-"),
        ("nim-scaler exit on SIGTERM", f"{exit_code}"),
        ("verdict", "PASS" if not failures else "FAIL: " + "; ".join(failures)),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    print(f"| {'check'.ljust(width)} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    print()
    codes_line = ", ".join(f"{k}:{c}={v}" for (k, c), v in sorted(codes.items()))
    print(f"status codes: {codes_line}")
    for n in notes[:10]:
        print(f"note: {n}")
    if rss:
        print("RSS MiB / fds every {:g} s: {}".format(args.rss_every, " ".join(
            f"{s[1] / 1024:.1f}/{s[3]}" for s in rss)))
    if err_violations:
        print("\n(a) first errors (trigger, call, sent-answered, code, details; pods of the trigger and their down spans):")
        for r in sorted(err_violations, key=lambda r: r.sent)[:10]:
            t = triggers[r.trigger]
            spans = {p: [(round(a - t0, 1), round(b - t0, 1)) for a, b in down.get(p, [])
                         if a - grace * 3 <= r.answered and b + grace * 3 >= r.sent] for p in t.pods}
            print(f"  {t.name} {r.kind} {fmt_t(r.sent, t0)}-{fmt_t(r.answered, t0)} {r.code} {r.details!r} pods {spans}")
    if stream_errors:
        print("\nstreams that ended with an error:")
        for t, code, details, at in stream_errors[:10]:
            print(f"  {t.name}: {code} {details!r} at {fmt_t(at, t0)}")
    if stream_ok_ends:
        print("stream OK ends at: " + " ".join(fmt_t(e[3], t0).strip() for e in stream_ok_ends[:20]))
    if floor_violations:
        print("\n(b) first values below the floor (trigger, pod killed at, floor, value at):")
        for ev, ti, floor, literal, r in sorted(floor_violations, key=lambda v: v[4].sent)[:10]:
            t = triggers[ti]
            print(f"  {t.name} pods {t.pods}: pod {ev['pod']} down {fmt_t(ev['kill_sent'], t0)}-"
                  f"{fmt_t(ev.get('restart_ack', end), t0)}; floor {floor:g} (last before {literal:g}); "
                  f"value {r.value:g} sent {fmt_t(r.sent, t0)}")
    if failures or args.keep:
        print(f"\nsoak: work dir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
