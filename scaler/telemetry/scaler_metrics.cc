// Exports ScalerMetrics over a prometheus-cpp Registry.
#include "scaler/telemetry/scaler_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>

#include "scaler/common/text.h"
#include "scaler/common/version.h"

namespace nimscaler::telemetry {

namespace {
// Label values come from callers (namespace, ScaledObject and signal names): NUL, other
// control characters and invalid UTF-8 would go into /metrics as raw bytes (prometheus-cpp
// escapes only \\, " and newline), so they become U+FFFD.
std::string LabelValue(const std::string& v) { return SanitizeUtf8(v, /*replace_controls=*/true); }
}  // namespace

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

struct ScalerMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  prometheus::Family<prometheus::Gauge>& build_info =
      BuildGauge().Name("nimscaler_build_info").Help("Always 1; labels carry the version.").Register(*registry);
  prometheus::Family<prometheus::Counter>& grpc_requests =
      BuildCounter().Name("nimscaler_grpc_requests_total")
          .Help("gRPC calls answered, by method and status code.").Register(*registry);
  prometheus::Family<prometheus::Histogram>& grpc_duration =
      BuildHistogram().Name("nimscaler_grpc_request_duration_seconds")
          .Help("Time to answer a unary gRPC call, by method.").Register(*registry);
  prometheus::Family<prometheus::Counter>& scrapes =
      BuildCounter().Name("nimscaler_scrapes_total")
          .Help("Pod /metrics scrapes, by result (success|error).").Register(*registry);
  prometheus::Family<prometheus::Histogram>& scrape_duration =
      BuildHistogram().Name("nimscaler_scrape_duration_seconds")
          .Help("Time to fetch and parse one pod's /metrics.").Register(*registry);
  prometheus::Family<prometheus::Counter>& metadata_errors =
      BuildCounter().Name("nimscaler_metadata_errors_total")
          .Help("Trigger metadata maps rejected with INVALID_ARGUMENT.").Register(*registry);
  prometheus::Family<prometheus::Counter>& stream_pushes =
      BuildCounter().Name("nimscaler_stream_pushes_total")
          .Help("IsActive=true messages sent on StreamIsActive streams.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& tracked =
      BuildGauge().Name("nimscaler_tracked_scaledobjects")
          .Help("ScaledObject triggers currently collected for.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& stream_clients =
      BuildGauge().Name("nimscaler_stream_clients").Help("Open StreamIsActive streams.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_value =
      BuildGauge().Name("nimscaler_scaledobject_value")
          .Help("Desired replica count reported to KEDA, per ScaledObject.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_ready =
      BuildGauge().Name("nimscaler_scaledobject_ready_pods")
          .Help("Pods whose metrics were usable in the last cycle.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_active =
      BuildGauge().Name("nimscaler_scaledobject_active").Help("1 when IsActive is true.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_signal =
      BuildGauge().Name("nimscaler_scaledobject_signal")
          .Help("Aggregated signal (sum over pods), per ScaledObject and signal.").Register(*registry);

  prometheus::Counter& scrape_ok = scrapes.Add({{"result", "success"}});
  prometheus::Counter& scrape_err = scrapes.Add({{"result", "error"}});
  prometheus::Histogram& scrape_hist = scrape_duration.Add(
      {}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  prometheus::Counter& metadata_err = metadata_errors.Add({});
  prometheus::Counter& pushes = stream_pushes.Add({});
  prometheus::Gauge& tracked_g = tracked.Add({});
  prometheus::Gauge& streams_g = stream_clients.Add({});

  std::mutex mu;  // guards the per-object series bookkeeping below
  std::map<std::pair<std::string, std::string>, std::map<std::string, prometheus::Gauge*>> so_signals;
};

ScalerMetrics::ScalerMetrics() : impl_(std::make_unique<Impl>()) {
  impl_->build_info.Add({{"version", kVersion}}).Set(1);
}
ScalerMetrics::~ScalerMetrics() = default;

void ScalerMetrics::RecordGrpc(const std::string& method, const std::string& code, double seconds) {
  impl_->grpc_requests.Add({{"method", LabelValue(method)}, {"code", LabelValue(code)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1};
  impl_->grpc_duration.Add({{"method", LabelValue(method)}}, kBuckets).Observe(seconds);
}

void ScalerMetrics::RecordScrape(bool success, double seconds) {
  (success ? impl_->scrape_ok : impl_->scrape_err).Increment();
  impl_->scrape_hist.Observe(seconds);
}

void ScalerMetrics::RecordMetadataError() { impl_->metadata_err.Increment(); }
void ScalerMetrics::RecordStreamPush() { impl_->pushes.Increment(); }
void ScalerMetrics::SetTrackedScaledObjects(size_t n) { impl_->tracked_g.Set(static_cast<double>(n)); }
void ScalerMetrics::AddStreamClients(int delta) { impl_->streams_g.Increment(delta); }

void ScalerMetrics::SetScaledObject(const std::string& raw_ns, const std::string& raw_name,
                                    const ScaledObjectGauges& g) {
  // Bookkeeping is by the sanitized values too, so it always matches the series that exist.
  std::string ns = LabelValue(raw_ns), name = LabelValue(raw_name);
  prometheus::Labels labels{{"namespace", ns}, {"scaledobject", name}};
  impl_->so_value.Add(labels).Set(g.value);
  impl_->so_ready.Add(labels).Set(g.ready_pods);
  impl_->so_active.Add(labels).Set(g.active ? 1 : 0);
  std::lock_guard lock(impl_->mu);
  auto& known = impl_->so_signals[{ns, name}];
  for (const auto& [raw_signal, v] : g.signals) {
    std::string signal = LabelValue(raw_signal);
    auto& gauge = known[signal];
    if (gauge == nullptr) {
      auto l = labels;
      l["signal"] = signal;
      gauge = &impl_->so_signal.Add(l);
    }
    gauge->Set(v);
  }
}

void ScalerMetrics::RemoveScaledObject(const std::string& raw_ns, const std::string& raw_name) {
  std::string ns = LabelValue(raw_ns), name = LabelValue(raw_name);
  prometheus::Labels labels{{"namespace", ns}, {"scaledobject", name}};
  impl_->so_value.Remove(&impl_->so_value.Add(labels));
  impl_->so_ready.Remove(&impl_->so_ready.Add(labels));
  impl_->so_active.Remove(&impl_->so_active.Add(labels));
  std::lock_guard lock(impl_->mu);
  auto it = impl_->so_signals.find({ns, name});
  if (it == impl_->so_signals.end()) return;
  for (auto& [signal, gauge] : it->second) impl_->so_signal.Remove(gauge);
  impl_->so_signals.erase(it);
}

std::string ScalerMetrics::SerializeText() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace nimscaler::telemetry
