"""An int-only KEDA client (v2.0 .. v2.16 proto: no float fields, no StreamMetricSpec).

Runs in its own process because its messages share full names with Proto@HEAD's.
Usage: old_keda_client.py <host:port> <work dir>, with a JSON list of
{"name": ..., "md": {...}} on stdin. Prints, per case, what an old KEDA would read:
{"specs": [...], "values": [...], "active": bool, "stream_first": bool|None, "errors": [...]}.
"""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

import harness  # noqa: E402


def main():
    target, work = sys.argv[1], sys.argv[2]
    out_dir = harness.generate_stubs(os.path.join(work, f"stubs-v2_0-{os.getpid()}"), ["keda_v2_0.proto"])
    sys.path.insert(0, out_dir)
    import keda_v2_0_pb2 as pb
    import keda_v2_0_pb2_grpc as pbg

    assert "StreamMetricSpec" not in pb.DESCRIPTOR.services_by_name["ExternalScaler"].methods_by_name
    assert "targetSizeFloat" not in pb.MetricSpec.DESCRIPTOR.fields_by_name

    stub = pbg.ExternalScalerStub(grpc.insecure_channel(target))
    results = []
    for case in json.load(sys.stdin):
        ref = pb.ScaledObjectRef(name=case["name"], namespace="conformance")
        for k, v in case["md"].items():
            ref.scalerMetadata[k] = v
        res = {"specs": [], "values": [], "active": None, "stream_first": None, "errors": []}
        try:
            spec = stub.GetMetricSpec(ref, timeout=10)
            res["specs"] = [{"metricName": s.metricName, "targetSize": s.targetSize} for s in spec.metricSpecs]
            name = spec.metricSpecs[0].metricName
            vals = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName=name), timeout=10)
            res["values"] = [{"metricName": v.metricName, "metricValue": v.metricValue} for v in vals.metricValues]
            res["active"] = stub.IsActive(ref, timeout=10).result
            if res["active"]:
                call = stub.StreamIsActive(ref)
                got = []
                t = threading.Thread(target=lambda: got.append(next(call).result), daemon=True)
                t.start()
                t.join(5)
                res["stream_first"] = got[0] if got else None
                call.cancel()
        except grpc.RpcError as e:
            res["errors"].append(f"{e.code().name}: {e.details()}")
        results.append(res)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
