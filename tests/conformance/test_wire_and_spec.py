"""Cases 1-10 and 29 (tests/conformance/README.md): wire, schema, GetMetricSpec, StreamMetricSpec."""

import json
import math
import os
import re
import subprocess
import sys
import time

import grpc
import pytest

import harness as h

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
PREFIX_RE = re.compile(r"^s\d+-")


def test_case01_head_client_every_rpc_ok(client, pod):
    """Case 1: a Proto@HEAD client calls the four RPCs over plaintext h2c; all OK."""
    pod.set(waiting=3)
    r = client.ref(h.unique("c1"), h.metadata(pod.url, targetWaiting=1))
    spec = client.spec(r)
    name = spec.metricSpecs[0].metricName
    assert client.metrics(r, name).metricValues[0].metricValueFloat == pytest.approx(3)
    assert client.active(r) is True
    w = h.StreamWatch(client.stub.StreamIsActive(r))
    assert w.wait_messages(1, 2) and w.msgs[0][1] is True
    w.cancel()
    assert w.wait_done(2) == grpc.StatusCode.CANCELLED


def test_case01_method_paths(channel, client, pod):
    """Case 1: the exact method paths KEDA dials exist (generic calls, no generated stub)."""
    r = client.ref(h.unique("c1p"), h.metadata(pod.url))
    raw = r.SerializeToString()
    for method in ("IsActive", "GetMetricSpec"):
        call = channel.unary_unary(f"/externalscaler.ExternalScaler/{method}")
        assert isinstance(call(raw, timeout=5), bytes)
    with pytest.raises(grpc.RpcError) as e:
        channel.unary_unary("/externalscaler.ExternalScaler/NoSuchMethod")(raw, timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_case02_int_only_client_from_v2_0_proto(scaler, make_pod, workdir):
    """Case 2: a client built from KEDA's v2.0 proto (int-only, no StreamMetricSpec) decodes
    every answer and gets targetSize >= 1 and metricValue = ceil(value)."""
    active = make_pod(waiting=12)  # targetWaiting 5 -> 2.4
    idle = make_pod()
    small = make_pod(running=1)  # targetRunning 2500 -> 0.0004
    cases = [
        {"name": h.unique("c2a"), "md": h.metadata(active.url, targetWaiting=5), "value": 2.4},
        {"name": h.unique("c2b"), "md": h.metadata(idle.url, targetWaiting=5), "value": 0.0},
        {"name": h.unique("c2c"), "md": h.metadata(small.url, targetRunning=2500), "value": 0.0004},
        {"name": h.unique("c2d"), "md": h.metadata(active.url, targetKvCache="0.0005", targetWaiting=5),
         "value": 2.4},
    ]
    client_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "old_keda_client.py")
    out = subprocess.run([sys.executable, client_py, scaler.target, workdir],
                         input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    for c, res in zip(cases, results):
        assert res["errors"] == [], res
        assert len(res["specs"]) == 1
        assert res["specs"][0]["targetSize"] >= 1
        assert len(res["values"]) == 1
        assert res["values"][0]["metricValue"] == math.ceil(c["value"] - 1e-12), (c, res)
        assert res["active"] == (c["value"] > 0)
        if c["value"] > 0:
            assert res["stream_first"] is True


def test_case03_stream_metric_spec_unimplemented(client, pod):
    """Case 3: StreamMetricSpec is not implemented, so it fails at once with UNIMPLEMENTED
    (not UNKNOWN, INTERNAL, OK-EOF or a hang). Case 29 then does not apply."""
    r = client.ref(h.unique("c3"), h.metadata(pod.url))
    t0 = time.monotonic()
    w = h.StreamWatch(client.stub.StreamMetricSpec(r), value=lambda m: m)
    assert w.wait_done(1.0) == grpc.StatusCode.UNIMPLEMENTED
    assert w.msgs == []
    assert w.ended_at - t0 < 1.0


@pytest.mark.skip(reason="case 29 applies only if StreamMetricSpec is implemented; case 3 proves "
                         "the server answers UNIMPLEMENTED, which KEDA treats as 'not supported'")
def test_case29_stream_metric_spec_agrees_with_get_metric_spec():
    pass


def test_case04_map_order_does_not_matter(channel, scaler, pod):
    """Case 4: equal metadata in different wire orders gives the same answer from every RPC,
    and resolves to one tracked trigger, not one per order."""
    pod.set(waiting=7, running=2, kv=0.25)
    name = h.unique("c4")
    items = list(h.metadata(pod.url, targetWaiting=2, targetKvCache="0.5", targetRunning=8).items())
    orders = [items, list(reversed(items)), items[2:] + items[:2], items[1:] + items[:1]]
    spec = channel.unary_unary("/externalscaler.ExternalScaler/GetMetricSpec")
    metrics = channel.unary_unary("/externalscaler.ExternalScaler/GetMetrics")
    active = channel.unary_unary("/externalscaler.ExternalScaler/IsActive")
    first = spec(h.encode_ref(name, "conformance", orders[0]), timeout=5)
    metrics(h.encode_get_metrics(name, "conformance", orders[0], f"nim-conformance-{name}"), timeout=5)
    time.sleep(0.5)  # a couple of scrapes of constant values
    tracked_before = scaler.self_metric("nimscaler_tracked_scaledobjects")
    answers = set()
    for order in orders:
        s = spec(h.encode_ref(name, "conformance", order), timeout=5)
        m = metrics(h.encode_get_metrics(name, "conformance", order, f"nim-conformance-{name}"), timeout=5)
        a = active(h.encode_ref(name, "conformance", order), timeout=5)
        answers.add((s, m, a))
        assert s == first
    assert len(answers) == 1, answers
    assert scaler.self_metric("nimscaler_tracked_scaledobjects") == tracked_before


def test_case05_06_07_spec_shape(client, pod):
    """Cases 5-7: >= 1 spec, valid unique names without an s<N>- prefix, positive targets with
    targetSize == max(1, ceil(targetSizeFloat))."""
    variants = [
        (h.unique("c5"), {}),
        (h.unique("c5x"), {"metricName": "my.metric-1"}),
        ("x" * 200, {}),  # a long ScaledObject name: the derived metric name must stay short
    ]
    for name, extra in variants:
        resp = client.spec(client.ref(name, h.metadata(pod.url, **extra)))
        specs = resp.metricSpecs
        assert len(specs) >= 1
        names = [s.metricName for s in specs]
        assert len(set(n.lower() for n in names)) == len(names)
        for s in specs:
            assert s.metricName and NAME_RE.match(s.metricName), s.metricName
            assert s.metricName not in (".", "..")
            assert not PREFIX_RE.match(s.metricName), s.metricName
            assert len(s.metricName) <= 200
            assert s.targetSizeFloat >= 0.001
            assert s.targetSize == max(1, math.ceil(s.targetSizeFloat))
        if "metricName" in extra:
            assert names == [extra["metricName"]]


def test_case05_names_kubernetes_cannot_send_are_refused(client, pod):
    """Issue 19 item 10: a ScaledObject namespace must be a DNS-1123 label and its name a DNS-1123
    subdomain (what Kubernetes allows); anything else (upper case, '_', over 63/253 bytes) is
    INVALID_ARGUMENT naming the field, before any lookup."""
    cases = [("C5-Upper_Case.Name", "conformance", "ScaledObjectRef.name"),
             ("y" * 254, "conformance", "ScaledObjectRef.name"),
             ("ok", "Conformance", "ScaledObjectRef.namespace"),
             ("ok", "n" * 64, "ScaledObjectRef.namespace")]
    for name, ns, field in cases:
        with pytest.raises(grpc.RpcError) as e:
            client.spec(client.ref(name, h.metadata(pod.url), namespace=ns))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, ns)
        assert field in e.value.details(), e.value.details()


def test_case06_refuses_names_keda_would_mangle(client, pod):
    """Case 6: a metricName with KEDA's own s<N>- prefix or characters outside [a-z0-9.-] is
    refused with INVALID_ARGUMENT instead of being reported."""
    for bad in ("s0-foo", "S12-foo", "Upper", "has/slash", "pct%", ".", "..", "a" * 250):
        with pytest.raises(grpc.RpcError) as e:
            client.spec(client.ref(h.unique("c6"), h.metadata(pod.url, metricName=bad)))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad


def test_case08_spec_independent_of_backend(client, make_pod):
    """Case 8: GetMetricSpec gives the same names and targets whether the backend is up,
    refusing connections, hung or failing, and answers fast even the first time."""
    up = make_pod(waiting=1)
    hung = make_pod(mode="hang")
    failing = make_pod(mode="error")
    seen = set()
    for url in (up.url, h.closed_port_url(), hung.url, failing.url):
        md = h.metadata(url, interval="2s", metricName="same-name", targetWaiting=3, targetKvCache="0.5")
        r = client.ref(h.unique("c8"), md)
        for _ in range(3):
            t0 = time.monotonic()
            resp = client.spec(r, timeout=5)
            assert time.monotonic() - t0 < 0.25
            seen.add(resp.SerializeToString())
        time.sleep(0.3)  # let collection fail for a while, then ask again
        seen.add(client.spec(r).SerializeToString())
    assert len(seen) == 1


def test_case09_byte_identical_repeats(channel, client, pod):
    """Case 9: 1000 GetMetricSpec calls with the same metadata return identical bytes."""
    r = client.ref(h.unique("c9"), h.metadata(pod.url, targetWaiting=4, targetKvCache="0.3"))
    raw = r.SerializeToString()
    call = channel.unary_unary("/externalscaler.ExternalScaler/GetMetricSpec")
    futures = [call.future(raw, timeout=10) for _ in range(1000)]
    answers = {f.result() for f in futures}
    assert len(answers) == 1


INVALID = [
    ("unknown key", lambda url: h.metadata(url, targetKvCach="0.5")),
    ("no discovery", lambda url: {"engine": "nim"}),
    ("bad duration", lambda url: h.metadata(url, interval="fast")),
    ("bad engine", lambda url: h.metadata(url, engine="nope")),
    ("bad target", lambda url: h.metadata(url, targetKvCache="1.5")),
    ("zero target", lambda url: h.metadata(url, targetWaiting="0")),
    ("bad url", lambda url: h.metadata("ftp://x/y")),
]


@pytest.mark.parametrize("label,make", INVALID, ids=[i[0] for i in INVALID])
def test_case10_invalid_metadata_same_code_everywhere(client, pod, label, make):
    """Case 10: invalid metadata gives INVALID_ARGUMENT within 50 ms from every RPC."""
    r = client.ref(h.unique("c10"), make(pod.url))
    calls = [
        ("GetMetricSpec", lambda: client.spec(r)),
        ("GetMetrics", lambda: client.metrics(r, "whatever")),
        ("IsActive", lambda: client.active(r)),
        ("GetMetricSpec again", lambda: client.spec(r)),
    ]
    for what, fn in calls:
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            fn()
        elapsed = time.monotonic() - t0
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, e.value.details())
        assert elapsed < 0.05, (what, elapsed)
        assert e.value.details(), what
    t0 = time.monotonic()
    w = h.StreamWatch(client.stub.StreamIsActive(r))
    assert w.wait_done(1) == grpc.StatusCode.INVALID_ARGUMENT
    assert w.ended_at - t0 < 0.05
