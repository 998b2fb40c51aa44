#pragma once
// ScalerMetrics: every self-metric of nim-scaler, declared in one place. prometheus-cpp
// types stay inside scaler_metrics.cc; callers use verbs. Thread-safe.

#include <map>
#include <memory>
#include <string>

namespace nimscaler::telemetry {

/// Per-ScaledObject values published after each evaluation.
struct ScaledObjectGauges {
  double value = 0;        ///< desired replicas as computed (NaN when unknown)
  double ready_pods = 0;
  bool active = false;
  std::map<std::string, double> signals;  ///< aggregated signals, e.g. kv_cache -> 0.2
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
  void SetScaledObject(const std::string& ns, const std::string& name, const ScaledObjectGauges& g);
  /// Removes every series of the object (it was forgotten), so /metrics does not keep ghosts.
  void RemoveScaledObject(const std::string& ns, const std::string& name);

  /// The Prometheus text exposition of every metric, for GET /metrics.
  std::string SerializeText() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nimscaler::telemetry
