// Exports ScalerMetrics over a prometheus-cpp Registry.
#include "scaler/telemetry/scaler_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>
#include <tuple>

#include "scaler/common/text.h"
#include "scaler/common/version.h"
#include "scaler/telemetry/process_metrics.h"

namespace nimscaler::telemetry {

namespace {
// Label values come from callers (namespace, ScaledObject and signal names): NUL, other
// control characters and invalid UTF-8 would go into /metrics as raw bytes (prometheus-cpp
// escapes only \\, " and newline), so they become U+FFFD.
std::string LabelValue(const std::string& v) { return SanitizeUtf8(v, /*replace_controls=*/true); }

// grpc_code as stock dashboards expect it (Go's codes.Code names): INVALID_ARGUMENT becomes
// InvalidArgument, CANCELLED Canceled, OK stays OK.
std::string GoCodeName(const std::string& code) {
  if (code == "OK") return code;
  if (code == "CANCELLED") return "Canceled";
  std::string out;
  bool upper = true;
  for (char c : code) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    upper = false;
  }
  return LabelValue(out);
}
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
      BuildGauge().Name("nimscaler_scaledobject_desired_replicas")
          .Help("Desired replica count reported to KEDA, per trigger.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_ready =
      BuildGauge().Name("nimscaler_scaledobject_ready_pods")
          .Help("Pods whose metrics were usable in the last cycle, per trigger.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_active =
      BuildGauge().Name("nimscaler_scaledobject_active").Help("1 when IsActive is true.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_signal =
      BuildGauge().Name("nimscaler_scaledobject_signal")
          .Help("Aggregated signal (sum over pods), per trigger and signal.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_panicking =
      BuildGauge().Name("nimscaler_scaledobject_panicking")
          .Help("1 while the panic window drives the trigger's value.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_held =
      BuildGauge().Name("nimscaler_scaledobject_held")
          .Help("1 while the trigger's value is held because a pod or metric is missing.").Register(*registry);
  prometheus::Family<prometheus::Gauge>& so_fresh =
      BuildGauge().Name("nimscaler_scaledobject_last_collection_timestamp_seconds")
          .Help("Unix time of the last cycle in which some pod of the trigger answered.").Register(*registry);
  prometheus::Family<prometheus::Counter>& so_errors =
      BuildCounter().Name("nimscaler_scaledobject_collection_errors_total")
          .Help("Collection shortfalls per trigger, by reason (scrape: a pod failed; discovery; metric: a signal "
                "no pod serves; no_pods: none usable).").Register(*registry);
  // The names stock gRPC dashboards query (go-grpc-prometheus).
  prometheus::Family<prometheus::Counter>& grpc_handled =
      BuildCounter().Name("grpc_server_handled_total")
          .Help("gRPC calls completed on the server, by type, service, method and code.").Register(*registry);
  prometheus::Family<prometheus::Histogram>& grpc_handling =
      BuildHistogram().Name("grpc_server_handling_seconds")
          .Help("Time to complete a unary gRPC call on the server.").Register(*registry);

  prometheus::Counter& scrape_ok = scrapes.Add({{"result", "success"}});
  prometheus::Counter& scrape_err = scrapes.Add({{"result", "error"}});
  prometheus::Histogram& scrape_hist = scrape_duration.Add(
      {}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  prometheus::Counter& metadata_err = metadata_errors.Add({});
  prometheus::Counter& pushes = stream_pushes.Add({});
  prometheus::Gauge& tracked_g = tracked.Add({});
  prometheus::Gauge& streams_g = stream_clients.Add({});

  std::mutex mu;  // guards the per-trigger series bookkeeping below
  struct Series {
    std::map<std::string, prometheus::Gauge*> signals;
    std::map<std::string, prometheus::Counter*> errors;
  };
  std::map<std::tuple<std::string, std::string, std::string>, Series> triggers;
};

ScalerMetrics::ScalerMetrics() : impl_(std::make_unique<Impl>()) {
  impl_->build_info.Add({{"version", kVersion}}).Set(1);
}
ScalerMetrics::~ScalerMetrics() = default;

void ScalerMetrics::RecordGrpc(const std::string& method, const std::string& code, double seconds) {
  impl_->grpc_requests.Add({{"method", LabelValue(method)}, {"code", LabelValue(code)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1};
  // The gRPC service of every method recorded here; health checks are not recorded.
  const std::string type = method == "StreamIsActive" ? "server_stream" : "unary";
  impl_->grpc_handled
      .Add({{"grpc_type", type}, {"grpc_service", "externalscaler.ExternalScaler"}, {"grpc_method", LabelValue(method)},
            {"grpc_code", GoCodeName(code)}})
      .Increment();
  impl_->grpc_duration.Add({{"method", LabelValue(method)}}, kBuckets).Observe(seconds);
  if (type == "unary") {
    impl_->grpc_handling
        .Add({{"grpc_type", type}, {"grpc_service", "externalscaler.ExternalScaler"},
              {"grpc_method", LabelValue(method)}},
             kBuckets)
        .Observe(seconds);
  }
}

void ScalerMetrics::RecordScrape(bool success, double seconds) {
  (success ? impl_->scrape_ok : impl_->scrape_err).Increment();
  impl_->scrape_hist.Observe(seconds);
}

void ScalerMetrics::RecordMetadataError() { impl_->metadata_err.Increment(); }
void ScalerMetrics::RecordStreamPush() { impl_->pushes.Increment(); }
void ScalerMetrics::SetTrackedScaledObjects(size_t n) { impl_->tracked_g.Set(static_cast<double>(n)); }
void ScalerMetrics::AddStreamClients(int delta) { impl_->streams_g.Increment(delta); }

namespace {
prometheus::Labels SeriesLabels(const TriggerLabels& t) {
  return {{"namespace", LabelValue(t.ns)}, {"scaledobject", LabelValue(t.scaledobject)},
          {"trigger", LabelValue(t.trigger)}};
}
}  // namespace

void ScalerMetrics::SetScaledObject(const TriggerLabels& trigger, const ScaledObjectGauges& g) {
  // Bookkeeping is by the sanitized values too, so it always matches the series that exist.
  prometheus::Labels labels = SeriesLabels(trigger);
  impl_->so_value.Add(labels).Set(g.value);
  impl_->so_ready.Add(labels).Set(g.ready_pods);
  impl_->so_active.Add(labels).Set(g.active ? 1 : 0);
  impl_->so_panicking.Add(labels).Set(g.panicking ? 1 : 0);
  impl_->so_held.Add(labels).Set(g.held ? 1 : 0);
  auto& fresh = impl_->so_fresh.Add(labels);
  if (g.collected) fresh.SetToCurrentTime();
  std::lock_guard lock(impl_->mu);
  auto& known = impl_->triggers[{labels["namespace"], labels["scaledobject"], labels["trigger"]}];
  for (const auto& [raw_signal, v] : g.signals) {
    std::string signal = LabelValue(raw_signal);
    auto& gauge = known.signals[signal];
    if (gauge == nullptr) {
      auto l = labels;
      l["signal"] = signal;
      gauge = &impl_->so_signal.Add(l);
    }
    gauge->Set(v);
  }
  for (const auto& [reason, n] : g.errors) {
    auto& counter = known.errors[reason];
    if (counter == nullptr) {
      auto l = labels;
      l["reason"] = LabelValue(reason);
      counter = &impl_->so_errors.Add(l);
    }
    if (n > 0) counter->Increment(n);
  }
}

void ScalerMetrics::RemoveScaledObject(const TriggerLabels& trigger) {
  prometheus::Labels labels = SeriesLabels(trigger);
  impl_->so_value.Remove(&impl_->so_value.Add(labels));
  impl_->so_ready.Remove(&impl_->so_ready.Add(labels));
  impl_->so_active.Remove(&impl_->so_active.Add(labels));
  impl_->so_fresh.Remove(&impl_->so_fresh.Add(labels));
  impl_->so_panicking.Remove(&impl_->so_panicking.Add(labels));
  impl_->so_held.Remove(&impl_->so_held.Add(labels));
  std::lock_guard lock(impl_->mu);
  auto it = impl_->triggers.find({labels["namespace"], labels["scaledobject"], labels["trigger"]});
  if (it == impl_->triggers.end()) return;
  for (auto& [signal, gauge] : it->second.signals) impl_->so_signal.Remove(gauge);
  for (auto& [reason, counter] : it->second.errors) impl_->so_errors.Remove(counter);
  impl_->triggers.erase(it);
}

std::string ScalerMetrics::SerializeText() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect()) + ProcessMetricsText(ReadProcessStats());
}

}  // namespace nimscaler::telemetry
