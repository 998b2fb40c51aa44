#pragma once
// ScalerMetrics: every self-metric of nim-scaler, declared in one place. prometheus-cpp
// types stay inside scaler_metrics.cc; callers use verbs. Thread-safe.

#include <map>
#include <memory>
#include <string>

namespace nimscaler::telemetry {

/// Which trigger a series belongs to: its ScaledObject and the metric name KEDA asks for, so
/// two nim-scaler triggers of one ScaledObject (with distinct metricName) keep apart.
struct TriggerLabels {
  std::string ns;
  std::string scaledobject;
  std::string trigger;  ///< the trigger's metric name (spec.metric_name)
};

/// Per-trigger values published after each evaluation.
struct ScaledObjectGauges {
  double value = 0;  ///< desired replicas as computed (NaN when unknown)
  double ready_pods = 0;
  bool active = false;
  bool collected = false;                 ///< some pod answered this cycle: the freshness timestamp moves
  bool panicking = false;                 ///< the panic window drives the value
  bool held = false;                      ///< the value is held (a pod or metric is missing)
  std::map<std::string, double> signals;  ///< aggregated signals, e.g. kv_cache -> 0.2
  /// Why this cycle fell short, by reason ("scrape": pods that failed; "discovery"; "metric":
  /// a signal no pod serves; "no_pods": none usable; "front_door": no front-door endpoint
  /// answered), counted into the errors series.
  std::map<std::string, double> errors;
};

class ScalerMetrics {
 public:
  ScalerMetrics();
  ~ScalerMetrics();
  ScalerMetrics(const ScalerMetrics&) = delete;
  ScalerMetrics& operator=(const ScalerMetrics&) = delete;

  void RecordGrpc(const std::string& method, const std::string& code, double seconds);
  void RecordScrape(bool success, double seconds);
  void RecordMetadataError();
  void RecordStreamPush();
  void SetTrackedScaledObjects(size_t n);
  void AddStreamClients(int delta);
  void SetScaledObject(const TriggerLabels& trigger, const ScaledObjectGauges& g);
  /// Removes every series of the trigger (it was forgotten), so /metrics does not keep ghosts;
  /// other triggers of the same ScaledObject keep theirs.
  void RemoveScaledObject(const TriggerLabels& trigger);

  /// The Prometheus text exposition of every metric, for GET /metrics.
  std::string SerializeText() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimscaler::telemetry
