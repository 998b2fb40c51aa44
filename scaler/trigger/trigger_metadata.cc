// Exports ReadTriggerMetadata() and MetadataFields(): the one table of trigger metadata keys.
#include "scaler/trigger/trigger_metadata.h"

#include <functional>

#include "scaler/common/signal_vocabulary.h"
#include "scaler/common/text.h"
#include "scaler/sources/engine_preset.h"
#include "scaler/sources/front_door_preset.h"

namespace nimscaler::trigger {
namespace {

using config::FieldSpec;
using config::FieldType;
using config::MetadataValues;

template <typename T>
using Member = T TriggerMetadata::*;

// One key: how it is checked and documented (`field`), and where its value goes (`bind`, run
// after the reader has checked every key).
struct Row {
  FieldSpec field;
  std::function<void(TriggerMetadata&, const MetadataValues&)> bind;
};

// The helpers below set the field's type from the member they bind. A member that is not an
// optional gets the key's default when the key is absent or its value was refused.

Row Text(FieldSpec f, Member<std::optional<std::string>> m) {
  f.type = f.enum_values.empty() ? FieldType::kString : FieldType::kEnum;
  return {f, [key = f.key, m](TriggerMetadata& t, const MetadataValues& v) {
            if (v.Has(key)) t.*m = v.String(key);
          }};
}

Row Text(FieldSpec f, Member<std::string> m) {
  f.type = f.enum_values.empty() ? FieldType::kString : FieldType::kEnum;
  return {f, [key = f.key, fallback = f.default_value, m](TriggerMetadata& t, const MetadataValues& v) {
            t.*m = v.Has(key) ? v.String(key) : fallback;
          }};
}

Row Number(FieldSpec f, Member<std::optional<double>> m) {
  f.type = FieldType::kDouble;
  return {f, [key = f.key, m](TriggerMetadata& t, const MetadataValues& v) { t.*m = v.Double(key); }};
}

Row Number(FieldSpec f, Member<double> m) {
  f.type = FieldType::kDouble;
  return {f, [key = f.key, fallback = ParseDouble(f.default_value).value_or(0), m](
                 TriggerMetadata& t, const MetadataValues& v) { t.*m = v.Double(key).value_or(fallback); }};
}

Row Time(FieldSpec f, Member<std::optional<Duration>> m) {
  f.type = FieldType::kDuration;
  return {f, [key = f.key, m](TriggerMetadata& t, const MetadataValues& v) { t.*m = v.DurationOf(key); }};
}

Row Time(FieldSpec f, Member<Duration> m) {
  f.type = FieldType::kDuration;
  return {f, [key = f.key, fallback = ParseDuration(f.default_value).value_or(Duration{}), m](
                 TriggerMetadata& t, const MetadataValues& v) { t.*m = v.DurationOf(key).value_or(fallback); }};
}

Row Flag(FieldSpec f, Member<bool> m) {
  f.type = FieldType::kBool;
  return {f, [key = f.key, fallback = ParseBool(f.default_value).value_or(false), m](
                 TriggerMetadata& t, const MetadataValues& v) { t.*m = v.Bool(key).value_or(fallback); }};
}

// The per-replica target of built-in signal `signal`: its key comes from the signal's
// vocabulary row, a number for a level, a duration for a latency (kept in seconds).
Row Target(const char* signal, FieldSpec f) {
  const BuiltinSignal* b = FindBuiltinSignal(signal);
  f.key = b != nullptr ? std::string(b->target_key) : std::string();
  f.min = 0;
  const bool latency = b != nullptr && b->target_use == TargetUse::kLatency;
  f.type = latency ? FieldType::kDuration : FieldType::kDouble;
  return {f, [key = f.key, signal = std::string(signal), latency](TriggerMetadata& t, const MetadataValues& v) {
            std::optional<double> value;
            if (latency) {
              if (auto d = v.DurationOf(key)) value = ToSeconds(*d);
            } else {
              value = v.Double(key);
            }
            if (value) t.targets[signal] = *value;
          }};
}

// `key` is a prefix ("signal."): every key that starts with it goes into the map, by suffix.
Row Prefix(FieldSpec f, Member<std::map<std::string, std::string>> m) {
  f.prefix = true;
  return {f, [key = f.key, m](TriggerMetadata& t, const MetadataValues& v) { t.*m = v.Prefixed(key); }};
}

// Where the pods are and how they are read.
std::vector<Row> PodRows() {
  using T = TriggerMetadata;
  return {
      Text({.key = "service", .help = "Service whose EndpointSlices list the pods (ScaledObject's namespace)"},
           &T::service),
      Text({.key = "port",
            .help = "pod port: a number or a port name of the EndpointSlices (default: triton 8002, "
                    "sglang 30000, tgi 80, others 8000)"},
           &T::port),
      Text({.key = "scheme", .default_value = "http", .help = "http or https", .enum_values = {"http", "https"}},
           &T::scheme),
      Text({.key = "dnsName", .help = "headless Service name whose A/AAAA records are the pods"}, &T::dns_name),
      Text({.key = "endpoints", .help = "comma-separated metrics URLs (needs --allow-static-endpoints)"},
           &T::endpoints),
      Text({.key = "engine",
            .default_value = "auto",
            .help = "metric-name preset",
            .enum_values = sources::EngineNames()},
           &T::engine),
      Text({.key = "model", .help = "keep only series whose model_name (or model) label equals this"}, &T::model),
      Text({.key = "metricsPath", .help = "metrics path (default: nim /v1/metrics, others /metrics)"},
           &T::metrics_path),
      Flag({.key = "insecureSkipVerify",
            .default_value = "false",
            .help = "with scheme https: do not verify the pods' certificates"},
           &T::insecure_skip_verify),
  };
}

// What the trigger scales on.
std::vector<Row> ScalingRows() {
  using T = TriggerMetadata;
  return {
      Target(kKvCache, {.help = "KV-cache fraction (0-1) per replica, e.g. \"0.7\"", .max = 1, .fraction = true}),
      Target(kWaiting, {.help = "waiting requests per replica, e.g. \"4\""}),
      Target(kRunning, {.help = "running requests per replica, e.g. \"64\""}),
      Target(kTtft, {.help = "time-to-first-token per replica at latencyQuantile, e.g. \"2s\""}),
      Target(kItl, {.help = "inter-token latency at latencyQuantile, e.g. \"50ms\""}),
      Target(kE2e, {.help = "end-to-end request latency at latencyQuantile, e.g. \"20s\""}),
      Target(kRequests, {.help = "requests completed per second per replica, e.g. \"20\""}),
      Number({.key = "latencyQuantile",
              .default_value = "0.95",
              .help = "quantile used by the latency targets, e.g. \"0.95\"",
              .min = 0,
              .max = 1},
             &T::latency_quantile),
      Text({.key = "formula", .help = "expression for the desired replica count (default: built from the targets)"},
           &T::formula),
      Text({.key = "activation",
            .default_value = "sum(waiting) + sum(running) > 0",
            .help = "boolean expression for IsActive"},
           &T::activation),
      Prefix({.key = "signal.", .help = "`signal.<name>: metric{label=\"v\"}` maps a metric to a signal"}, &T::signals),
      Time({.key = "startupTime",
            .help = "how long a new pod takes to serve, e.g. \"150s\": the default formula scales on the demand "
                    "predicted that far ahead",
            .min = 0,
            .max = 3600},
           &T::startup_time),
  };
}

// When and how long; the name KEDA sees.
std::vector<Row> TimingRows() {
  using T = TriggerMetadata;
  return {
      Time({.key = "window",
            .default_value = "60s",
            .help = "stable window for rates, quantiles and smoothing",
            .min = 0,
            .max = 3600},
           &T::window),
      Time({.key = "panicWindow",
            .help = "short window that reacts to bursts (default: window / 10, at least one scrapeInterval)",
            .min = 0,
            .max = 3600},
           &T::panic_window),
      Number({.key = "panicThreshold",
              .default_value = "2.0",
              .help = "panic when the panicWindow average reaches this multiple of the ready replicas",
              .min = 1,
              .max = 100},
             &T::panic_threshold),
      Time({.key = "scrapeInterval",
            .default_value = "2s",
            .help = "collection period, e.g. \"2s\"",
            .min = 0,
            .max = 300},
           &T::scrape_interval),
      Text({.key = "metricName", .help = "name reported to KEDA: [a-z0-9.-], at most 120 characters"}, &T::metric_name),
  };
}

// Besides the pods: the front door and the wake query.
std::vector<Row> WakeRows() {
  using T = TriggerMetadata;
  return {
      Text({.key = "frontDoor",
            .help = "a front door's metrics: [namespace/]Service[:port] (its EndpointSlices) or an http(s) URL; its "
                    "queue wakes the trigger (docs/front-doors.md)"},
           &T::front_door),
      Text({.key = "frontDoorPreset",
            .help = "which front door frontDoor is: its metric names, port and path",
            .enum_values = sources::FrontDoorPresetNames()},
           &T::front_door_preset),
      Text({.key = "frontDoorLabels",
            .help = "label=\"value\",... the front door's series must have, e.g. "
                    "route_name=\"chat\",route_namespace=\"llm\""},
           &T::front_door_labels),
      Text({.key = "wakeQuery", .help = "PromQL whose value > 0 means demand while at zero (with prometheusAddress)"},
           &T::wake_query),
      Text({.key = "prometheusAddress",
            .help = "Prometheus base URL for wakeQuery, e.g. http://prometheus.monitoring:9090"},
           &T::prometheus_address),
      Time({.key = "wakeHold",
            .default_value = "5m",
            .help = "how long a wake (wakeQuery or the wake hook) keeps the trigger active",
            .min = 0,
            .max = 86400},
           &T::wake_hold),
  };
}

// Every key, grouped by concern: the order of docs/trigger-reference.md "Keys".
const std::vector<Row>& Rows() {
  static const std::vector<Row> kRows = [] {
    std::vector<Row> all;
    for (auto part : {PodRows(), ScalingRows(), TimingRows(), WakeRows()}) {
      for (auto& row : part) all.push_back(std::move(row));
    }
    return all;
  }();
  return kRows;
}

}  // namespace

bool TriggerMetadata::AnyTargetGiven() const {
  // Every key named target* is a target (targetKvCache ... targetE2e).
  auto it = given.lower_bound(std::string_view("target"));
  return it != given.end() && it->rfind("target", 0) == 0;
}

const std::vector<FieldSpec>& MetadataFields() {
  static const std::vector<FieldSpec> kFields = [] {
    std::vector<FieldSpec> fields;
    for (const Row& row : Rows()) fields.push_back(row.field);
    return fields;
  }();
  return kFields;
}

TriggerMetadataRead ReadTriggerMetadata(const config::Metadata& metadata) {
  config::MetadataRead read = config::ReadMetadata(metadata, MetadataFields());
  TriggerMetadataRead out;
  for (const Row& row : Rows()) {
    row.bind(out.metadata, read.values);
    if (!row.field.prefix && metadata.count(row.field.key)) out.metadata.given.insert(row.field.key);
  }
  out.problems = std::move(read.problems);
  return out;
}

}  // namespace nimscaler::trigger
