// Exports ScalerMetrics over a prometheus-cpp Registry.
#include "scaler/telemetry/scaler_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <tuple>
#include <vector>

#include "scaler/common/flat_map.h"
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

// One trigger's series, as /metrics shows them.
struct TriggerSeries {
  double value = 0;
  double ready_pods = 0;
  double last_collection = 0;  // Unix seconds; 0 until a pod of the trigger answered
  bool active = false;
  bool panicking = false;
  bool held = false;
  FlatMap<std::string, double> signals;  // by signal name
  FlatMap<std::string, double> errors;   // by reason; counters
};

using TriggerKey = std::tuple<std::string, std::string, std::string>;  // namespace, scaledobject, trigger
using TriggerTable = std::map<TriggerKey, TriggerSeries>;

namespace {
// A label value as the text format writes it: backslash, double quote and newline escaped.
void AppendLabelValue(std::string* out, const std::string& v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      *out += '\\';
      *out += c;
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

void AppendSample(std::string* out, double v) {
  if (std::isnan(v)) {
    *out += "NaN";
  } else if (std::isinf(v)) {
    *out += v > 0 ? "+Inf" : "-Inf";
  } else {
    *out += FormatDouble(v);
  }
}
}  // namespace

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

struct ScalerMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  prometheus::Family<prometheus::Gauge>& build_info =
      BuildGauge().Name("nimscaler_build_info").Help("Always 1; labels carry the version.").Register(*registry);
  prometheus::Family<prometheus::Counter>& grpc_requests = BuildCounter()
                                                               .Name("nimscaler_grpc_requests_total")
                                                               .Help("gRPC calls answered, by method and status code.")
                                                               .Register(*registry);
  prometheus::Family<prometheus::Histogram>& grpc_duration = BuildHistogram()
                                                                 .Name("nimscaler_grpc_request_duration_seconds")
                                                                 .Help("Time to answer a unary gRPC call, by method.")
                                                                 .Register(*registry);
  prometheus::Family<prometheus::Counter>& scrapes = BuildCounter()
                                                         .Name("nimscaler_scrapes_total")
                                                         .Help("Pod /metrics scrapes, by result (success|error).")
                                                         .Register(*registry);
  prometheus::Family<prometheus::Histogram>& scrape_duration = BuildHistogram()
                                                                   .Name("nimscaler_scrape_duration_seconds")
                                                                   .Help("Time to fetch and parse one pod's /metrics.")
                                                                   .Register(*registry);
  prometheus::Family<prometheus::Counter>& metadata_errors =
      BuildCounter()
          .Name("nimscaler_metadata_errors_total")
          .Help("Trigger metadata maps rejected with INVALID_ARGUMENT.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& stream_pushes =
      BuildCounter()
          .Name("nimscaler_stream_pushes_total")
          .Help("IsActive=true messages sent on StreamIsActive streams.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& tracked = BuildGauge()
                                                       .Name("nimscaler_tracked_scaledobjects")
                                                       .Help("ScaledObject triggers currently collected for.")
                                                       .Register(*registry);
  prometheus::Family<prometheus::Gauge>& stream_clients =
      BuildGauge().Name("nimscaler_stream_clients").Help("Open StreamIsActive streams.").Register(*registry);
  // The names stock gRPC dashboards query (go-grpc-prometheus).
  prometheus::Family<prometheus::Counter>& grpc_handled =
      BuildCounter()
          .Name("grpc_server_handled_total")
          .Help("gRPC calls completed on the server, by type, service, method and code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& grpc_handling =
      BuildHistogram()
          .Name("grpc_server_handling_seconds")
          .Help("Time to complete a unary gRPC call on the server.")
          .Register(*registry);

  prometheus::Counter& scrape_ok = scrapes.Add({{"result", "success"}});
  prometheus::Counter& scrape_err = scrapes.Add({{"result", "error"}});
  prometheus::Histogram& scrape_hist = scrape_duration.Add(
      {}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  prometheus::Counter& metadata_err = metadata_errors.Add({});
  prometheus::Counter& pushes = stream_pushes.Add({});
  prometheus::Gauge& tracked_g = tracked.Add({});
  prometheus::Gauge& streams_g = stream_clients.Add({});

  // Per-trigger series live in a compact table of our own, not in prometheus-cpp families: a
  // labelled prometheus-cpp series costs about 1 KiB (label maps, hash tables), so the eight
  // or more series of a trigger cost ~7 KiB together, the largest part of an idle
  // trigger's memory (issue 16 item 3). They are rendered at scrape time instead.
  std::mutex mu;  // guards triggers
  TriggerTable triggers;
};

ScalerMetrics::ScalerMetrics() : impl_(std::make_unique<Impl>()) {
  impl_->build_info.Add({{"version", kVersion}}).Set(1);
}
ScalerMetrics::~ScalerMetrics() = default;

void ScalerMetrics::RecordGrpc(const std::string& method, const std::string& code, double seconds) {
  impl_->grpc_requests.Add({{"method", LabelValue(method)}, {"code", LabelValue(code)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                                0.005,   0.01,   0.05,    0.25,   1};
  // The gRPC service of every method recorded here; health checks are not recorded.
  const std::string type = method == "StreamIsActive" ? "server_stream" : "unary";
  impl_->grpc_handled
      .Add({{"grpc_type", type},
            {"grpc_service", "externalscaler.ExternalScaler"},
            {"grpc_method", LabelValue(method)},
            {"grpc_code", GoCodeName(code)}})
      .Increment();
  impl_->grpc_duration.Add({{"method", LabelValue(method)}}, kBuckets).Observe(seconds);
  if (type == "unary") {
    impl_->grpc_handling
        .Add({{"grpc_type", type},
              {"grpc_service", "externalscaler.ExternalScaler"},
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

void ScalerMetrics::SetScaledObject(const TriggerLabels& trigger, const ScaledObjectGauges& g) {
  // Keyed by the sanitized values, so the key always matches the labels written.
  TriggerKey key{LabelValue(trigger.ns), LabelValue(trigger.scaledobject), LabelValue(trigger.trigger)};
  double now =
      g.collected ? std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() : 0;
  std::lock_guard lock(impl_->mu);
  TriggerSeries& t = impl_->triggers[std::move(key)];
  t.value = g.value;
  t.ready_pods = g.ready_pods;
  t.active = g.active;
  t.panicking = g.panicking;
  t.held = g.held;
  if (g.collected) t.last_collection = now;
  for (const auto& [signal, v] : g.signals) t.signals[LabelValue(signal)] = v;
  for (const auto& [reason, n] : g.errors) {
    double& count = t.errors[LabelValue(reason)];
    if (n > 0) count += n;
  }
}

void ScalerMetrics::RemoveScaledObject(const TriggerLabels& trigger) {
  std::lock_guard lock(impl_->mu);
  impl_->triggers.erase({LabelValue(trigger.ns), LabelValue(trigger.scaledobject), LabelValue(trigger.trigger)});
}

namespace {
// The per-trigger families in the text format, labels in name order as prometheus-cpp writes
// the others. A family without series is left out, as prometheus-cpp leaves out empty ones.

struct TriggerFamily {
  const char* name;
  const char* type;
  const char* help;
  const char* extra_label;  // "signal" or "reason" for the families with one more label, else ""
};

void AppendLabel(std::string* out, const char* name, const std::string& value, bool first) {
  *out += first ? "{" : ",";
  *out += name;
  *out += "=\"";
  AppendLabelValue(out, value);
  *out += '"';
}

void AppendTriggerSample(std::string* out, const TriggerFamily& f, const TriggerKey& key, const std::string* extra,
                         double v) {
  std::string_view extra_label = f.extra_label;
  *out += f.name;
  AppendLabel(out, "namespace", std::get<0>(key), true);
  if (extra != nullptr && extra_label < "scaledobject") AppendLabel(out, f.extra_label, *extra, false);
  AppendLabel(out, "scaledobject", std::get<1>(key), false);
  if (extra != nullptr && extra_label > "scaledobject") AppendLabel(out, f.extra_label, *extra, false);
  AppendLabel(out, "trigger", std::get<2>(key), false);
  *out += "} ";
  AppendSample(out, v);
  *out += '\n';
}

// samples(series, emit) calls emit(extra_label_value_or_null, value) once per sample of a trigger.
template <typename Samples>
void AppendTriggerFamily(std::string* out, const TriggerTable& triggers, const TriggerFamily& f, Samples samples) {
  bool header = false;
  for (const auto& [key, series] : triggers) {
    samples(series, [&](const std::string* extra, double v) {
      if (!header) {
        *out += std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
        header = true;
      }
      AppendTriggerSample(out, f, key, extra, v);
    });
  }
}

void AppendTriggerFamilies(std::string* out, const TriggerTable& t) {
  auto number = [](double TriggerSeries::*field) {
    return [field](const TriggerSeries& s, auto emit) { emit(nullptr, s.*field); };
  };
  auto flag = [](bool TriggerSeries::*field) {
    return [field](const TriggerSeries& s, auto emit) { emit(nullptr, s.*field ? 1.0 : 0.0); };
  };
  auto labelled = [](FlatMap<std::string, double> TriggerSeries::*field) {
    return [field](const TriggerSeries& s, auto emit) {
      for (const auto& [label, v] : s.*field) emit(&label, v);
    };
  };
  AppendTriggerFamily(
      out, t,
      {"nimscaler_scaledobject_desired_replicas", "gauge", "Desired replica count reported to KEDA, per trigger.", ""},
      number(&TriggerSeries::value));
  AppendTriggerFamily(out, t,
                      {"nimscaler_scaledobject_ready_pods", "gauge",
                       "Pods whose metrics were usable in the last cycle, per trigger.", ""},
                      number(&TriggerSeries::ready_pods));
  AppendTriggerFamily(out, t, {"nimscaler_scaledobject_active", "gauge", "1 when IsActive is true.", ""},
                      flag(&TriggerSeries::active));
  AppendTriggerFamily(out, t,
                      {"nimscaler_scaledobject_signal", "gauge",
                       "Aggregated signal (sum over pods), per trigger and signal.", "signal"},
                      labelled(&TriggerSeries::signals));
  AppendTriggerFamily(
      out, t, {"nimscaler_scaledobject_panicking", "gauge", "1 while the panic window drives the trigger's value.", ""},
      flag(&TriggerSeries::panicking));
  AppendTriggerFamily(out, t,
                      {"nimscaler_scaledobject_held", "gauge",
                       "1 while the trigger's value is held because a pod or metric is missing.", ""},
                      flag(&TriggerSeries::held));
  AppendTriggerFamily(out, t,
                      {"nimscaler_scaledobject_last_collection_timestamp_seconds", "gauge",
                       "Unix time of the last cycle in which some pod of the trigger answered.", ""},
                      number(&TriggerSeries::last_collection));
  AppendTriggerFamily(out, t,
                      {"nimscaler_scaledobject_collection_errors_total", "counter",
                       "Collection shortfalls per trigger, by reason (scrape: a pod failed; discovery; "
                       "metric: a signal no pod serves; no_pods: none usable; front_door: no front-door "
                       "endpoint answered).",
                       "reason"},
                      labelled(&TriggerSeries::errors));
}
}  // namespace

std::string ScalerMetrics::SerializeText() const {
  std::string out = prometheus::TextSerializer().Serialize(impl_->registry->Collect());
  {
    std::lock_guard lock(impl_->mu);
    // One allocation for the page, not a doubling series of them left in the arenas: about
    // 10 lines of ~130 bytes per trigger.
    out.reserve(out.size() + impl_->triggers.size() * 1400 + 4096);
    AppendTriggerFamilies(&out, impl_->triggers);
  }
  out += ProcessMetricsText(ReadProcessStats());
  return out;
}

}  // namespace nimscaler::telemetry
