"""Cases 27 and 32 (tests/conformance/README.md): graceful shutdown and gRPC health. Each test starts its
own server (it stops or stalls it)."""

import time

import grpc
import pytest

import harness as h


def test_case27_sigterm_ends_every_stream_with_ok(workdir, make_pod):
    """Case 27: on SIGTERM every open stream ends with status OK (KEDA sees EOF and reconnects
    after 2 s), a unary call already running completes, and the process exits 0."""
    s = h.Scaler(workdir=workdir)
    try:
        active, idle = make_pod(waiting=1), make_pod()
        slow = make_pod(mode="slow", delay=0.6, waiting=2)
        ch = grpc.insecure_channel(s.target, options=[("grpc.use_local_subchannel_pool", 1)])
        c = h.Client(ch)
        refs = [c.ref(h.unique("c27"), h.metadata(p.url, targetWaiting=1)) for p in (active, idle)]
        for r in refs:
            c.active(r)
        streams = [h.StreamWatch(c.stub.StreamIsActive(refs[i % 2])) for i in range(200)]
        for w in streams[::2]:
            assert w.wait_messages(1, 5), "active stream got no first message"
        assert s.wait_metric("nimscaler_stream_clients", lambda v: v >= 200, 5) >= 200
        # a unary call in flight at SIGTERM: the first GetMetrics of a trigger whose pod takes
        # 0.6 s to answer waits for that first scrape (under the server's 0.8 s cap, case 19)
        r_slow = c.ref(h.unique("c27s"), h.metadata(slow.url, interval="2s", targetWaiting=1))
        name = c.spec(r_slow).metricSpecs[0].metricName
        inflight = c.stub.GetMetrics.future(c.req(r_slow, name), timeout=10)
        time.sleep(0.3)
        t_term = time.monotonic()
        s.proc.send_signal(15)
        for w in streams:
            assert w.wait_done(5) is not None, "stream still open 5 s after SIGTERM"
        codes = {w.code for w in streams}
        last_end = max(w.ended_at for w in streams) - t_term
        try:
            got = inflight.result(timeout=10)
            inflight_outcome = ("OK", got.metricValues[0].metricValueFloat)
        except grpc.RpcError as e:
            inflight_outcome = (e.code().name, e.details())
        rc = s.proc.wait(15)
        print(f"case 27: streams ended {last_end:.3f}s after SIGTERM with {codes}; in-flight unary: "
              f"{inflight_outcome}; exit {rc} after {time.monotonic() - t_term:.2f}s")
        assert codes == {grpc.StatusCode.OK}, codes
        assert last_end < 1.0
        assert inflight_outcome == ("OK", 2.0), inflight_outcome
        assert rc == 0, s.log()[-2000:]
        ch.close()
    finally:
        s.stop()


def test_case27_no_crash_on_sigterm_with_tracked_objects(workdir, make_pod):
    """Case 27: shutdown with tracked triggers (collection threads running, some scrapes hung)
    exits 0 within the grace period and logs 'stopped'."""
    s = h.Scaler(workdir=workdir)
    try:
        ok, hung = make_pod(waiting=1), make_pod(mode="hang")
        ch = grpc.insecure_channel(s.target)
        c = h.Client(ch)
        for p in (ok, hung, ok):
            r = c.ref(h.unique("c27t"), h.metadata(p.url, interval="500ms", targetWaiting=1))
            try:
                c.active(r, timeout=2)
            except grpc.RpcError:
                pass
        time.sleep(0.3)
        t0 = time.monotonic()
        rc = s.terminate(15)
        took = time.monotonic() - t0
        print(f"case 27: exit {rc} after {took:.2f}s")
        assert rc == 0, s.log()[-3000:]
        assert took < 6.0
        assert "stopped" in s.log()
        ch.close()
    finally:
        s.stop()


def test_case32_health_follows_collection(workdir, make_pod):
    """Case 32: grpc.health.v1 reports SERVING once collection runs (within one health pass of
    start-up), stays SERVING while tracked triggers collect, also when their pods fail or hang
    (a pod fault is not a scaler fault: its cycles still finish, bounded by the scrape
    timeout), and reports NOT_SERVING on shutdown before the port closes."""
    s = h.Scaler(workdir=workdir)
    try:
        ch = grpc.insecure_channel(s.target, options=[("grpc.use_local_subchannel_pool", 1)])
        c = h.Client(ch)
        SERVING, NOT_SERVING = c.hpb.HealthCheckResponse.SERVING, c.hpb.HealthCheckResponse.NOT_SERVING

        def wait_status(want, timeout):
            deadline = time.monotonic() + timeout
            st = None
            while time.monotonic() < deadline:
                st = c.health_status()
                if st == want:
                    return st
                time.sleep(0.05)
            return st

        assert wait_status(SERVING, 1.0) == SERVING
        ok, hung, failing = make_pod(waiting=1), make_pod(mode="hang"), make_pod(mode="error")
        for p in (ok, hung, failing):
            try:
                c.active(c.ref(h.unique("c32"), h.metadata(p.url, interval="100ms", targetWaiting=1)), timeout=2)
            except grpc.RpcError:
                pass
        stop = time.monotonic() + 1.5
        while time.monotonic() < stop:
            assert c.health_status() == SERVING
            time.sleep(0.1)
        assert s.http_get("/readyz").strip() != ""
        watch = h.StreamWatch(c.health.Watch(c.hpb.HealthCheckRequest(service="")), value=lambda m: m.status)
        assert watch.wait_messages(1, 2)[0][1] == SERVING
        s.proc.send_signal(15)
        watch.wait_done(10)
        statuses = [v for _, v in watch.msgs]
        print(f"case 32: health Watch across SIGTERM: {statuses}, ended with {watch.code}")
        assert NOT_SERVING in statuses, statuses
        assert s.proc.wait(15) == 0
        ch.close()
    finally:
        s.stop()


@pytest.mark.skip(reason=(
    "case 32, stalled-collection half: cannot be induced from outside the process. Every "
    "collection cycle is bounded by the scrape timeout (min(scrapeInterval, 5s)) per endpoint and "
    "the stall limit scales with it (ScalerEngine::CollectionHealthy), so no pod behaviour makes a "
    "cycle overrun; NOT_SERVING on a stall needs a unit test with a fake clock in tests/engine/."))
def test_case32_not_serving_when_collection_stalls():
    pass
