#!/usr/bin/python3
"""Every metric the Grafana dashboard queries must exist, with the right type, in nim-scaler's /metrics.

Usage:
  dashboard_metrics.py DASHBOARD_JSON                       static: against the documented list
  dashboard_metrics.py DASHBOARD_JSON --binary PATH --proto PROTO
                                                            live: against the real binary

Live mode starts a tiny HTTP server on 127.0.0.1 serving a NIM /v1/metrics page, starts
`nim-scaler serve --allow-static-endpoints --kube-api off` on loopback ports, makes it track one
ScaledObject through the real gRPC API (GetMetricSpec, GetMetrics, IsActive, a StreamIsActive
stream) with static endpoints pointing at that page, then reads /metrics until every family the
dashboard needs has its # TYPE line (per-ScaledObject families appear only once an object is
tracked). Families are compared by their # HELP/# TYPE names; `_bucket`, `_sum` and `_count` in a
query must belong to a histogram, rate()/increase() must be applied to counters (or histogram
parts), and no query may use a metric that is not the scaler's own, except the kube-state-metrics
HPA series of the "what the HPA did" row (KUBE_STATE_METRICS: checked by name, never live).
"""
import argparse
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# The scaler's self-metrics (product decision; the dashboard may use only these).
DOCUMENTED = {
    "nimscaler_build_info": "gauge",
    "nimscaler_grpc_requests_total": "counter",
    "nimscaler_grpc_request_duration_seconds": "histogram",
    "nimscaler_scrapes_total": "counter",
    "nimscaler_scrape_duration_seconds": "histogram",
    "nimscaler_tracked_scaledobjects": "gauge",
    "nimscaler_stream_clients": "gauge",
    "nimscaler_stream_pushes_total": "counter",
    "nimscaler_metadata_errors_total": "counter",
    "nimscaler_scaledobject_desired_replicas": "gauge",
    "nimscaler_scaledobject_ready_pods": "gauge",
    "nimscaler_scaledobject_active": "gauge",
    "nimscaler_scaledobject_signal": "gauge",
    "nimscaler_scaledobject_panicking": "gauge",
    "nimscaler_scaledobject_held": "gauge",
    "nimscaler_scaledobject_last_collection_timestamp_seconds": "gauge",
    "nimscaler_scaledobject_collection_errors_total": "counter",
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_threads": "gauge",
    "process_start_time_seconds": "gauge",
    "grpc_server_handled_total": "counter",
    "grpc_server_handling_seconds": "histogram",
}

# Not the scaler's: kube-state-metrics' series of the HPA KEDA creates (issue 14 item 3). Only these
# foreign names are allowed; tests/integration/metrics_prometheus_test.cc lists the panels using them.
KUBE_STATE_METRICS = {
    "kube_horizontalpodautoscaler_status_desired_replicas": "gauge",
    "kube_horizontalpodautoscaler_status_current_replicas": "gauge",
    "kube_horizontalpodautoscaler_spec_min_replicas": "gauge",
    "kube_horizontalpodautoscaler_spec_max_replicas": "gauge",
    "kube_horizontalpodautoscaler_status_condition": "gauge",
}

PROMQL_WORDS = {
    # functions
    "abs", "absent", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "count_over_time",
    "delta", "deriv", "exp", "floor", "histogram_quantile", "idelta", "increase", "irate", "label_replace",
    "label_values", "last_over_time", "ln", "log2", "log10", "max_over_time", "min_over_time", "rate",
    "resets", "round", "scalar", "sort", "sort_desc", "sqrt", "sum_over_time", "time", "timestamp", "vector",
    "quantile_over_time",
    # aggregations and keywords
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset",
    "bool", "inf", "nan",
}

NIM_PAGE = """# HELP gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE gpu_cache_usage_perc gauge
gpu_cache_usage_perc{model_name="meta/llama-3.1-8b-instruct"} 0.25
# HELP num_requests_running Number of requests currently running on GPU.
# TYPE num_requests_running gauge
num_requests_running{model_name="meta/llama-3.1-8b-instruct"} 3
# HELP num_requests_waiting Number of requests waiting to be processed.
# TYPE num_requests_waiting gauge
num_requests_waiting{model_name="meta/llama-3.1-8b-instruct"} 1
# HELP time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE time_to_first_token_seconds histogram
time_to_first_token_seconds_bucket{model_name="meta/llama-3.1-8b-instruct",le="0.1"} 1
time_to_first_token_seconds_bucket{model_name="meta/llama-3.1-8b-instruct",le="1.0"} 4
time_to_first_token_seconds_bucket{model_name="meta/llama-3.1-8b-instruct",le="+Inf"} 5
time_to_first_token_seconds_sum{model_name="meta/llama-3.1-8b-instruct"} 2.5
time_to_first_token_seconds_count{model_name="meta/llama-3.1-8b-instruct"} 5
# HELP prompt_tokens_total Number of prefill tokens processed.
# TYPE prompt_tokens_total counter
prompt_tokens_total{model_name="meta/llama-3.1-8b-instruct"} 1000
"""


def dashboard_queries(path):
    d = json.load(open(path))
    out = []

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(d.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append((p.get("title", "?"), t["expr"]))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            out.append((f"variable {v['name']}", q))
    return out


def layout_errors(path):
    """Issue 14 item 3: one unit per panel (no override adds a second one), no fixed range windows
    (rates over $__rate_interval, totals over $__range), and a cluster variable whose All matches
    series without the label (single-cluster setups)."""
    d = json.load(open(path))
    errors = []

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(d.get("panels", [])):
        if not p.get("targets"):
            continue
        fc = p.get("fieldConfig", {})
        units = {fc.get("defaults", {}).get("unit")}
        for o in fc.get("overrides", []):
            units |= {prop.get("value") for prop in o.get("properties", []) if prop.get("id") == "unit"}
        if len(units) != 1 or None in units:
            errors.append(f"{p.get('title', '?')}: want exactly one unit per panel, found {sorted(map(str, units))}")
        for t in p["targets"]:
            unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', t.get("expr", ""))
            for rng in re.findall(r"\[([^\]]*)\]", unquoted):
                if rng not in ("$__rate_interval", "$__range"):
                    errors.append(f"{p.get('title', '?')}: fixed range [{rng}]: use [$__rate_interval] (or [$__range])")
    cluster = [v for v in d.get("templating", {}).get("list", []) if v.get("name") == "cluster"]
    if not cluster or not cluster[0].get("includeAll") or cluster[0].get("allValue") != ".*":
        errors.append("variable cluster: missing, or its All is not .* (must match series without the label)")
    return errors


def strip_expr(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)            # strings
    e = re.sub(r"\{[^}]*\}", "", e)                            # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                           # range selectors
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)
    e = re.sub(r"label_values\(([^,()]*),[^)]*\)", r"label_values(\1)", e)  # label argument
    e = re.sub(r"\$\{?\w+\}?", "", e)                          # dashboard variables
    return e


def needed_families(queries):
    """-> ({family: {'histogram'|'counter'|'any'}}, [errors])"""
    need, errors = {}, []
    for where, expr in queries:
        e = strip_expr(expr)
        for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
            tok = m.group(0)
            if tok in PROMQL_WORDS or re.fullmatch(r"[0-9.e]+", tok):
                continue
            if tok in KUBE_STATE_METRICS:
                continue
            if tok not in DOCUMENTED and not tok.startswith("nimscaler_") and not any(
                    tok.startswith(f) and tok[len(f):] in ("_bucket", "_sum", "_count") for f in DOCUMENTED):
                errors.append(f"{where}: '{tok}' is not one of the scaler's own metrics")
                continue
            fam, kind = tok, "any"
            for suf in ("_bucket", "_sum", "_count"):
                if tok.endswith(suf) and tok[: -len(suf)] in DOCUMENTED:
                    fam, kind = tok[: -len(suf)], "histogram"
            before = e[: m.start()].rstrip()
            if kind == "any" and re.search(r"\b(rate|irate|increase)\($", before):
                kind = "counter"
            if kind == "histogram" and tok.endswith("_bucket") and "histogram_quantile" not in e:
                errors.append(f"{where}: {tok} used without histogram_quantile")
            need.setdefault(fam, set()).add(kind)
    return need, errors


def check_against(need, types):
    errors = []
    for fam, kinds in sorted(need.items()):
        t = types.get(fam)
        if t is None:
            errors.append(f"{fam}: not exposed")
            continue
        if "histogram" in kinds and t != "histogram":
            errors.append(f"{fam}: queried as a histogram but is a {t}")
        if "counter" in kinds and t != "counter":
            errors.append(f"{fam}: rate()/increase() of a {t}")
    return errors


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = NIM_PAGE.encode()
        self.send_response(200 if self.path == "/v1/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def exposed_types(url):
    text = urllib.request.urlopen(url, timeout=2).read().decode()
    types = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            types[m.group(1)] = m.group(2)
        m = re.match(r"# HELP (\S+) ", line)
        if m:
            types.setdefault(m.group(1), "untyped")
    return types


def live(binary, proto, need):
    import grpc
    from grpc_tools import protoc

    gen = tempfile.mkdtemp(prefix="nimscaler-proto-")
    rc = protoc.main(["protoc", f"-I{os.path.dirname(proto)}", f"--python_out={gen}",
                      f"--grpc_python_out={gen}", proto])
    if rc != 0:
        return [f"protoc failed on {proto}"]
    sys.path.insert(0, gen)
    import externalscaler_pb2 as pb
    import externalscaler_pb2_grpc as pbg

    page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    page_port = page.server_address[1]
    gport, hport = free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="nimscaler-serve-", suffix=".log", delete=False)
    proc = subprocess.Popen([binary, "serve", "--grpc-addr", f"127.0.0.1:{gport}", "--http-addr",
                             f"127.0.0.1:{hport}", "--allow-static-endpoints", "--kube-api", "off",
                             "--log-format", "text"], stdout=log, stderr=subprocess.STDOUT)
    errors = []
    try:
        deadline = time.time() + 20
        types = {}
        while time.time() < deadline:
            if proc.poll() is not None:
                return [f"nim-scaler serve exited with {proc.returncode}; log: {open(log.name).read()[-800:]}"]
            try:
                types = exposed_types(f"http://127.0.0.1:{hport}/metrics")
                break
            except OSError:
                time.sleep(0.2)
        else:
            return ["/metrics did not answer within 20 s"]
        ref = pb.ScaledObjectRef(name="llama-3-1-8b-instruct", namespace="nim", scalerMetadata={
            "scalerAddress": f"127.0.0.1:{gport}",
            "endpoints": f"http://127.0.0.1:{page_port}/v1/metrics",
            "engine": "nim",
            "targetKvCache": "0.1",
            "scrapeInterval": "1s",
        })
        chan = grpc.insecure_channel(f"127.0.0.1:{gport}")
        stub = pbg.ExternalScalerStub(chan)
        spec = stub.GetMetricSpec(ref, timeout=5)
        if not spec.metricSpecs:
            return ["GetMetricSpec returned no metric spec"]
        stream = stub.StreamIsActive(ref, timeout=30)
        first_wait = threading.Thread(target=lambda: next(stream, None), daemon=True)
        first_wait.start()
        # A bad metadata map, so the metadata error counter has a sample too.
        try:
            stub.GetMetricSpec(pb.ScaledObjectRef(name="bad", namespace="nim", scalerMetadata={"nope": "1"}), timeout=5)
        except grpc.RpcError:
            pass
        name = spec.metricSpecs[0].metricName
        missing = set(need)
        # Families appear as the calls and scrapes happen. Once a GetMetrics has answered, a
        # family still missing after 3 more seconds (3 scrape intervals) is not coming.
        settled_at = None
        while time.time() < deadline:
            try:
                stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName=name), timeout=5)
                stub.IsActive(ref, timeout=5)
                if settled_at is None:
                    settled_at = time.time() + 3
            except grpc.RpcError:
                pass  # the first scrape may not have happened yet
            types = exposed_types(f"http://127.0.0.1:{hport}/metrics")
            missing = {f for f in need if f not in types}
            if not missing or (settled_at is not None and time.time() > settled_at):
                break
            time.sleep(0.5)
        stream.cancel()
        chan.close()
        errors += check_against(need, types)
        extra = sorted(f for f in types if f.startswith("nimscaler_") and f not in DOCUMENTED)
        if extra:
            print(f"dashboard_metrics: note: exposed but undocumented: {', '.join(extra)}")
        print(f"dashboard_metrics: live /metrics has {len([f for f in types if f.startswith('nimscaler_')])} nimscaler_ families")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            errors.append("nim-scaler did not stop within 10 s of SIGTERM")
        page.shutdown()
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard")
    ap.add_argument("--binary")
    ap.add_argument("--proto")
    args = ap.parse_args()
    queries = dashboard_queries(args.dashboard)
    if not queries:
        print("dashboard_metrics: the dashboard has no query")
        return 1
    need, errors = needed_families(queries)
    if not need:
        errors.append("the dashboard queries no nimscaler_ metric")
    errors += check_against(need, DOCUMENTED)
    errors += layout_errors(args.dashboard)
    mode = "documented list"
    if args.binary:
        mode = f"live {args.binary}"
        if not os.access(args.binary, os.X_OK):
            errors.append(f"{args.binary} is not an executable")
        else:
            errors += live(args.binary, args.proto, need)
    for e in errors:
        print(f"ERROR {e}")
    print(f"dashboard_metrics: {len(queries)} queries, {len(need)} metric families, checked against the {mode}: "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
