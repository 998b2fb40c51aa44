"""Cases 11-18 (tests/conformance/README.md): GetMetrics and IsActive."""

import time

import grpc
import pytest

import harness as h


def spec_name(client, r):
    return client.spec(r).metricSpecs[0].metricName


def test_case11_exactly_one_value_named_as_requested(client, pod):
    """Case 11: GetMetrics with the exact spec name returns exactly one MetricValue, named so."""
    pod.set(waiting=5)
    r = client.ref(h.unique("c11"), h.metadata(pod.url, targetWaiting=2))
    name = spec_name(client, r)
    resp = client.metrics(r, name)
    assert len(resp.metricValues) == 1
    assert resp.metricValues[0].metricName == name
    assert resp.metricValues[0].metricValueFloat == pytest.approx(2.5)


def test_case12_triggers_of_one_scaledobject_stay_apart(client, make_pod):
    """Case 12, as it applies here: nim-scaler reports one metric per trigger, so 'two specs'
    means two triggers of one ScaledObject (same name and namespace, different metadata).
    Each answers only its own value, and asking one trigger for the other's name is NOT_FOUND
    (the HPA would otherwise add both values up, http-add-on#1659)."""
    a, b = make_pod(waiting=4), make_pod(waiting=30)
    so = h.unique("c12")
    ra = client.ref(so, h.metadata(a.url, targetWaiting=1, metricName="kv-a"))
    rb = client.ref(so, h.metadata(b.url, targetWaiting=1, metricName="kv-b"))
    assert [s.metricName for s in client.spec(ra).metricSpecs] == ["kv-a"]
    assert [s.metricName for s in client.spec(rb).metricSpecs] == ["kv-b"]
    va = client.metrics(ra, "kv-a").metricValues
    vb = client.metrics(rb, "kv-b").metricValues
    assert [v.metricValueFloat for v in va] == [4.0]
    assert [v.metricValueFloat for v in vb] == [30.0]
    for r, other in ((ra, "kv-b"), (rb, "kv-a")):
        with pytest.raises(grpc.RpcError) as e:
            client.metrics(r, other)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_case13_case_insensitive_names(client, pod):
    """Case 13: the name upper- or lower-cased gives the same value (KEDA <= 2.11 HPA path)."""
    pod.set(waiting=9)
    r = client.ref(h.unique("c13-mixed"), h.metadata(pod.url, targetWaiting=3, metricName="mixed.name-13"))
    name = spec_name(client, r)
    exact = client.metrics(r, name).metricValues[0]
    for variant in (name.upper(), name.lower(), name.title(), name.swapcase()):
        got = client.metrics(r, variant).metricValues
        assert len(got) == 1
        assert got[0].metricValueFloat == exact.metricValueFloat
        assert got[0].metricValue == exact.metricValue


def test_case14_stray_prefix_and_not_found(client, pod):
    """Case 14: s<N>-<name> gives the same value as <name> (KEDA 2.5-2.6); an unknown name is
    NOT_FOUND, never OK with an empty list."""
    pod.set(waiting=6)
    r = client.ref(h.unique("c14"), h.metadata(pod.url, targetWaiting=4))
    name = spec_name(client, r)
    exact = client.metrics(r, name).metricValues[0].metricValueFloat
    for prefixed in (f"s0-{name}", f"s1-{name}", f"s12-{name}", f"S3-{name.upper()}"):
        got = client.metrics(r, prefixed).metricValues
        assert [v.metricValueFloat for v in got] == [exact], prefixed
    for unknown in ("", "nope", f"x0-{name}", f"s-{name}", f"s0{name}", f"{name}-extra", f"s0-s0-{name}"):
        with pytest.raises(grpc.RpcError) as e:
            client.metrics(r, unknown)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, unknown


@pytest.mark.parametrize("waiting,target,want_float,want_int", [
    (12, 5, 2.4, 3),
    (0, 5, 0.0, 0),
    (-5, 5, 0.0, 0),
    (10, 5, 2.0, 2),
    (1, 3, 1 / 3, 1),
])
def test_case15_encoding(client, pod, waiting, target, want_float, want_int):
    """Case 15: v = 2.4 is metricValueFloat 2.4 and metricValue 3; 0 is 0 and 0; a source value
    of -5 is reported as 0; values are finite and never negative."""
    pod.set(waiting=waiting)
    r = client.ref(h.unique("c15"), h.metadata(pod.url, targetWaiting=target))
    v = client.metrics(r, spec_name(client, r)).metricValues[0]
    # The server rounds to 9 decimals (stable answers); KEDA itself keeps 3.
    assert v.metricValueFloat == pytest.approx(want_float, rel=0, abs=1e-9)
    assert v.metricValue == want_int
    assert v.metricValueFloat >= 0 and v.metricValue >= 0


@pytest.mark.parametrize("bad", ["NaN", "+Inf", "-Inf"])
def test_case15_non_finite_source_never_reaches_keda(client, pod, bad):
    """Case 15: a NaN or infinite sample never becomes a NaN, Inf or negative value: the answer
    is either finite and >= 0 or an error status (never OK with a non-finite value)."""
    pod.set(waiting=bad)
    r = client.ref(h.unique("c15n"), h.metadata(pod.url, targetWaiting=2))
    try:
        v = client.metrics(r, spec_name(client, r)).metricValues[0]
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE)
        return
    assert v.metricValueFloat == v.metricValueFloat and abs(v.metricValueFloat) != float("inf")
    assert v.metricValueFloat >= 0 and v.metricValue >= 0


def test_case16_tiny_value_still_active(client, pod):
    """Case 16: v = 0.0004 (below KEDA's milli resolution) keeps IsActive true when the raw
    signal is non-zero, and metricValue is 1 (ceil), not 0."""
    pod.set(running=1)
    r = client.ref(h.unique("c16"), h.metadata(pod.url, targetRunning=2500))
    v = client.metrics(r, spec_name(client, r)).metricValues[0]
    assert v.metricValueFloat == pytest.approx(0.0004)
    assert v.metricValue == 1
    assert client.active(r) is True


def test_case17_activity_agrees_with_value(client, make_pod):
    """Case 17, with this product's activation rule (docs/trigger-reference.md "Keys": `activation` defaults to
    sum(waiting) + sum(running) > 0; `activationThreshold` is not a key of this scaler): IsActive
    follows that rule and agrees with a GetMetrics taken at the same moment. One fresh trigger per
    row (the reported value is smoothed over `window`, so a changing source would mix rows)."""
    rows = [(0, 0, 0, False), (0, 1, 0, True), (0, 0, 2, True), (0.6, 0, 0, False), (0.1, 3, 3, True)]
    for kv, waiting, running, active in rows:
        pod = make_pod(kv=kv, waiting=waiting, running=running)
        r = client.ref(h.unique("c17"), h.metadata(pod.url, targetWaiting=1, targetRunning=1, targetKvCache="0.5"))
        name = spec_name(client, r)
        want = max(kv / 0.5, waiting, running)
        for _ in range(3):  # a few scrapes of the same source: value and activity stay consistent
            got_value = client.metrics(r, name).metricValues[0].metricValueFloat
            got_active = client.active(r)
            assert got_value == pytest.approx(want), (kv, waiting, running)
            assert got_active is active, (kv, waiting, running)
            time.sleep(0.2)


def test_case17_activation_threshold_key_is_refused(client, pod):
    """Case 17 note: `activationThreshold` means nothing to KEDA for external scalers and this
    scaler spells activation `activation`; an unknown key is reported, not silently ignored."""
    with pytest.raises(grpc.RpcError) as e:
        client.active(client.ref(h.unique("c17t"), h.metadata(pod.url, activationThreshold="5")))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "activationThreshold" in e.value.details()


def test_case18_keda_keys_are_ignored(client, pod):
    """Case 18: scalerAddress, enableTLS, unsafeSsl and any *FromEnv key change nothing."""
    pod.set(waiting=3, kv=0.2)
    base = h.metadata(pod.url, targetWaiting=2, metricName="c18-metric")
    plain = client.ref(h.unique("c18"), base)
    noisy_md = dict(base, scalerAddress="nim-scaler.nim-scaler.svc:9090", enableTLS="true", unsafeSsl="false",
                    targetWaitingFromEnv="1", somethingFromEnv="x")
    noisy = client.ref(h.unique("c18"), noisy_md)
    assert client.spec(plain) == client.spec(noisy)
    time.sleep(0.3)
    assert client.metrics(plain, "c18-metric") == client.metrics(noisy, "c18-metric")
    assert client.active(plain) == client.active(noisy) is True
