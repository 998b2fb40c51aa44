#pragma once
// Renders one emulated pod's /v1/metrics (NIM 1.x) or /metrics (vLLM V1, SGLang) in
// Prometheus text 0.0.4, shaped like the real captures: the same families, HELP and TYPE
// lines, label order, bucket bounds and prometheus_client number spelling ("5.0").
// NIM 1.x: tests/testdata/engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom;
// vLLM and SGLang: tests/testdata/emulator/ (see SOURCES.md there).

#include <string>

#include "tools/nim-emulator/sim.h"

namespace nimemu {

/// The text body. `process_start` is a Unix time for process_start_time_seconds.
/// Faults: `renamed` serves the KV and queue gauges under their other engine's names
/// (e.g. NIM's gpu_cache_usage_perc as kv_cache_usage_perc), `garbage` returns text no
/// Prometheus parser accepts. (`dead` is handled by the HTTP front end.)
std::string RenderMetrics(const Pod& pod, const PodModel& model, double process_start);

/// The emulated front door's queue, shaped like the KEDA HTTP add-on v0.15.0 interceptor's
/// /metrics (tests/testdata/frontdoor/http-add-on.prom): one gauge,
/// interceptor_request_concurrency{route_name="<service>",route_namespace="<namespace>"},
/// counting the requests the Service holds for want of a ready pod plus those it has passed to
/// a pod and that have not finished (waiting or running there), as the interceptor counts held
/// and proxied requests together (issue 18 item 4).
std::string RenderFrontDoor(const ClusterView& view, const std::string& namespace_, const std::string& service);

/// Python's repr of a float, as prometheus_client prints values ("1.0", "0.25", "1e-05").
std::string PyFloat(double v);

/// Default metrics path per engine ("/v1/metrics" for nim, "/metrics" otherwise).
const char* MetricsPath(const std::string& engine);

}  // namespace nimemu
