"""Cases 19-21 (tests/conformance/README.md) and the 10,000-cycle half of case 25: latency, hung backends,
client deadlines, 1,000 streams on one connection, open/cancel leaks.

Load runs over ONE channel (one HTTP/2 connection, as KEDA shares one per scaler address) with
grpc.aio, every loop bounded by a count and a wall-clock cap.
"""

import asyncio
import time

import grpc
import grpc.aio
import pytest

import harness as h

P99_LIMIT_S = 0.050  # case 19


async def _unary_load(target, calls, callers, per_caller, stop_at):
    """callers tasks each run per_caller rounds of every (label, coroutine factory) in calls."""
    lat = {label: [] for label, _ in calls}
    errors = []

    async def caller():
        for _ in range(per_caller):
            if time.monotonic() > stop_at:
                return
            for label, make in calls:
                t0 = time.perf_counter()
                try:
                    await make()
                except grpc.aio.AioRpcError as e:
                    errors.append((label, e.code().name))
                lat[label].append(time.perf_counter() - t0)

    await asyncio.gather(*(caller() for _ in range(callers)))
    return lat, errors


def _stub_calls(pb, stub, r, name):
    req = pb.GetMetricsRequest(scaledObjectRef=r, metricName=name)
    return [("GetMetricSpec", lambda: stub.GetMetricSpec(r, timeout=10)),
            ("GetMetrics", lambda: stub.GetMetrics(req, timeout=10)),
            ("IsActive", lambda: stub.IsActive(r, timeout=10))]


# The latency a Python client measures at 100 callers is mostly its own queueing (p50 ~5-10 ms
# on 2 cores) and the machine is shared with builds, so one noisy sample is not a verdict: a
# latency case passes if any of ATTEMPTS measurements meets the limit (a slow server fails all).
ATTEMPTS = 3


def _p99_ok(lat):
    # Under ASan (make sanitize) the load still runs and errors still fail; the limit is for release builds.
    return h.SANITIZED or all(h.percentile(v, 0.99) < P99_LIMIT_S for v in lat.values())


def _summary(lat):
    return {k: (len(v), round(h.percentile(v, 0.5) * 1e3, 2), round(h.percentile(v, 0.99) * 1e3, 2))
            for k, v in lat.items()}


def test_case19_p99_with_100_concurrent_callers(scaler, client, pod):
    """Case 19: with 100 concurrent callers, p99 of each unary RPC is under 50 ms."""
    pod.set(waiting=2, running=1, kv=0.3)
    r = client.ref(h.unique("c19"), h.metadata(pod.url, targetWaiting=1))
    name = client.spec(r).metricSpecs[0].metricName
    client.metrics(r, name)

    async def run():
        pb, pbg, _, _ = h.stubs()
        async with grpc.aio.insecure_channel(scaler.target) as ch:
            stub = pbg.ExternalScalerStub(ch)
            await _unary_load(scaler.target, _stub_calls(pb, stub, r, name), 20, 5, time.monotonic() + 10)  # warm-up
            return await _unary_load(scaler.target, _stub_calls(pb, stub, r, name), 100, 20, time.monotonic() + 30)

    attempts = []
    for _ in range(ATTEMPTS):
        lat, errors = asyncio.run(run())
        assert errors == []
        assert all(len(v) >= 1000 for v in lat.values())
        attempts.append(_summary(lat))
        if _p99_ok(lat):
            break
    print("case 19 latency per attempt (calls, p50 ms, p99 ms):", attempts)
    assert _p99_ok(lat), attempts


def test_case19_warm_trigger_answers_from_memory_while_backend_hangs(client, pod):
    """Case 19: once a trigger has data, a hung backend changes nothing about response time:
    every unary call without a client deadline returns at once (a kept value, then
    UNAVAILABLE once the pod has been silent for 3 x scrapeInterval)."""
    pod.set(waiting=4)
    r = client.ref(h.unique("c19w"), h.metadata(pod.url, targetWaiting=2))
    name = client.spec(r).metricSpecs[0].metricName
    client.metrics(r, name)
    pod.set(mode="hang")
    outcomes = set()
    worst = 0.0
    stop = time.monotonic() + 2.0
    while time.monotonic() < stop:
        for fut in (client.stub.GetMetrics.future(client.req(r, name)),  # no deadline
                    client.stub.IsActive.future(r),
                    client.stub.GetMetricSpec.future(r)):
            outcome, elapsed = h.bounded(fut, 1.0)
            outcomes.add(outcome)
            worst = max(worst, elapsed)
        time.sleep(0.05)
    pod.set(mode="ok")
    assert "HUNG" not in outcomes
    assert outcomes <= {"OK", "UNAVAILABLE"}, outcomes
    assert worst < 0.1, worst


@pytest.mark.parametrize("interval", ["200ms", "500ms"])
def test_case19_new_trigger_hung_backend_short_interval(client, make_pod, interval):
    """Case 19: a trigger seen for the first time while its backend hangs is answered within
    1 s without a client deadline (here the first scrape times out within scrapeInterval)."""
    hung = make_pod(mode="hang")
    r = client.ref(h.unique("c19s"), h.metadata(hung.url, interval=interval, targetWaiting=2))
    name = client.spec(r).metricSpecs[0].metricName
    for fut in (client.stub.GetMetrics.future(client.req(r, name)), client.stub.IsActive.future(r)):
        outcome, elapsed = h.bounded(fut, 3.0)
        assert outcome == "UNAVAILABLE" and elapsed < 1.0, (outcome, elapsed)


@pytest.mark.parametrize("interval", ["2s", "5s"])
def test_case19_new_trigger_hung_backend_no_deadline_within_1s(client, make_pod, interval):
    """Case 19: with the backend fully hung, every unary RPC returns within <= 1 s even when
    the client sends no deadline, also for the default scrapeInterval (2s) and longer ones."""
    hung = make_pod(mode="hang")
    r = client.ref(h.unique("c19h"), h.metadata(hung.url, interval=interval, targetWaiting=2))
    name = client.spec(r).metricSpecs[0].metricName
    futs = [client.stub.GetMetrics.future(client.req(r, name)), client.stub.IsActive.future(r)]
    results = [h.bounded(f, 6.0) for f in futs]
    for outcome, elapsed in results:
        assert outcome in ("OK", "UNAVAILABLE"), results
        assert elapsed <= 1.0, results


def test_case20_client_deadline_with_hung_backend(client, make_pod):
    """Case 20: with a 200 ms client deadline and a hung backend, the call ends with
    DEADLINE_EXCEEDED (or an answer) within the deadline."""
    hung = make_pod(mode="hang")
    r = client.ref(h.unique("c20"), h.metadata(hung.url, interval="2s", targetWaiting=2))
    name = client.spec(r).metricSpecs[0].metricName
    for call in (lambda: client.metrics(r, name, timeout=0.2), lambda: client.active(r, timeout=0.2)):
        t0 = time.monotonic()
        try:
            call()
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        elapsed = time.monotonic() - t0
        assert code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)
        assert elapsed < 0.3, elapsed


def test_case21_1000_streams_on_one_connection(scaler, client, make_pod):
    """Case 21: 1,000 StreamIsActive streams open on one connection; unary p99 stays under the
    case-19 limit on that same connection and server threads stay bounded."""
    active, idle = make_pod(waiting=1), make_pod()
    refs = [client.ref(h.unique("c21"), h.metadata(p.url, targetWaiting=1)) for p in (active, idle) for _ in range(2)]
    for r in refs:
        client.spec(r)
        client.active(r)
    probe = refs[0]
    name = client.spec(probe).metricSpecs[0].metricName
    before = scaler.stats()
    streams_before = scaler.self_metric("nimscaler_stream_clients") or 0

    async def run():
        pb, pbg, _, _ = h.stubs()
        async with grpc.aio.insecure_channel(scaler.target) as ch:
            stub = pbg.ExternalScalerStub(ch)
            calls = [stub.StreamIsActive(refs[i % len(refs)]) for i in range(1000)]
            # the streams on active triggers get `true` at once; wait for all of those
            firsts = [c.read() for i, c in enumerate(calls) if i % len(refs) < 2]
            got = await asyncio.wait_for(asyncio.gather(*firsts), 30)
            open_count = await asyncio.get_running_loop().run_in_executor(
                None, lambda: scaler.wait_metric("nimscaler_stream_clients", lambda v: v >= streams_before + 1000, 10))
            during = scaler.stats()
            attempts = []
            for _ in range(ATTEMPTS):
                lat, errors = await _unary_load(scaler.target, _stub_calls(pb, stub, probe, name), 100, 10,
                                                time.monotonic() + 30)
                attempts.append((lat, errors))
                if _p99_ok(lat):
                    break
            for c in calls:
                c.cancel()
            return got, open_count, during, attempts

    got, open_count, during, attempts = asyncio.run(run())
    print("case 21: threads", before["threads"], "->", during["threads"], "rss KiB", before["rss_kib"], "->",
          during["rss_kib"], "latency per attempt:", [_summary(a[0]) for a in attempts])
    assert all(m.result is True for m in got)
    assert open_count >= streams_before + 1000
    assert all(errors == [] for _, errors in attempts)
    assert _p99_ok(attempts[-1][0]), [_summary(a[0]) for a in attempts]
    assert during["threads"] - before["threads"] <= 8, (before, during)
    closed = scaler.wait_metric("nimscaler_stream_clients", lambda v: v <= streams_before, 10)
    assert closed <= streams_before


def test_case25_10000_open_cancel_cycles_leak_nothing(scaler, client, make_pod):
    """Case 25: 10,000 StreamIsActive open/cancel cycles (100 at a time on one connection) leak no
    memory, threads or file descriptors, and every handler ends."""
    active, idle = make_pod(waiting=1), make_pod()
    r_active = client.ref(h.unique("c25"), h.metadata(active.url, targetWaiting=1))
    r_idle = client.ref(h.unique("c25"), h.metadata(idle.url, targetWaiting=1))
    client.active(r_active)
    client.active(r_idle)
    base_streams = scaler.self_metric("nimscaler_stream_clients") or 0

    async def cycles(n, concurrency):
        pb, pbg, _, _ = h.stubs()
        async with grpc.aio.insecure_channel(scaler.target) as ch:
            stub = pbg.ExternalScalerStub(ch)
            counter = iter(range(n))
            stop_at = time.monotonic() + 90

            async def worker():
                for i in counter:
                    if time.monotonic() > stop_at:
                        return
                    if i % 4 == 3:
                        # idle trigger: nothing is sent; cancel once the server has seen the call
                        call = stub.StreamIsActive(r_idle)
                        await asyncio.sleep(0)
                        await asyncio.sleep(0.002)
                        call.cancel()
                    else:
                        call = stub.StreamIsActive(r_active)
                        msg = await asyncio.wait_for(call.read(), 10)
                        assert msg.result is True
                        call.cancel()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    t0 = time.monotonic()
    asyncio.run(cycles(2000, 100))  # warm-up: allocator pools, gRPC caches
    scaler.wait_metric("nimscaler_stream_clients", lambda v: v <= base_streams, 10)
    time.sleep(0.5)
    before = scaler.stats()
    asyncio.run(cycles(10000, 100))
    ended = scaler.wait_metric("nimscaler_stream_clients", lambda v: v <= base_streams, 10)
    time.sleep(0.5)
    after = scaler.stats()
    print(f"case 25: 12,000 cycles in {time.monotonic() - t0:.1f}s; before {before}, after {after}")
    assert ended <= base_streams
    assert after["threads"] <= before["threads"] + 1, (before, after)
    assert after["fds"] <= before["fds"] + 2, (before, after)
    if not h.SANITIZED:  # under ASan freed memory waits in its quarantine; LeakSanitizer checks leaks there
        assert after["rss_kib"] - before["rss_kib"] < 4096, (before, after)


def test_case25_cancelled_handler_ends_within_1s(scaler, client, make_pod):
    """Case 25: when the client cancels, the server-side handler ends within 1 s."""
    idle = make_pod()
    r = client.ref(h.unique("c25c"), h.metadata(idle.url, targetWaiting=1))
    client.active(r)
    base = scaler.self_metric("nimscaler_stream_clients") or 0
    w = h.StreamWatch(client.stub.StreamIsActive(r))
    assert scaler.wait_metric("nimscaler_stream_clients", lambda v: v >= base + 1, 3) >= base + 1
    t0 = time.monotonic()
    w.cancel()
    assert scaler.wait_metric("nimscaler_stream_clients", lambda v: v <= base, 2) <= base
    assert time.monotonic() - t0 < 1.0
