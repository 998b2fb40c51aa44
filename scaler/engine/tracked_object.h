#pragma once
// TrackedObject: one ScaledObject trigger being collected for. The Collector's workers feed it
// the cycles they fetched (Ingest: build the snapshot, evaluate, apply the wake hold, publish
// under a short lock; no I/O); the WakePoller runs its wakeQuery apart from collection. Readers
// (gRPC handlers) never wait on I/O.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "scaler/common/clock.h"
#include "scaler/engine/evaluator.h"
#include "scaler/engine/snapshot_builder.h"
#include "scaler/sources/discovery/discovery_registry.h"
#include "scaler/sources/pod_scrape_source.h"
#include "scaler/sources/prometheus_query_source.h"
#include "scaler/telemetry/logging.h"
#include "scaler/telemetry/scaler_metrics.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler::engine {

struct EngineDeps {
  std::shared_ptr<net::HttpClient> http;
  sources::DiscoveryRegistry* discovery = nullptr;
  const Clock* clock = nullptr;
  telemetry::ScalerMetrics* metrics = nullptr;
  Duration stream_heartbeat = std::chrono::seconds(60);  ///< re-send `true` while active; 0: never
};

/// One trigger's state: spec, evaluator, latest answer, stream subscribers and wake. The
/// Collector feeds it cycles (Ingest, from one worker at a time); readers call Latest().
/// Thread-safe.
class TrackedObject {
 public:
  using ActivatedFn = std::function<void()>;

  TrackedObject(trigger::ScalerSpecConstPtr spec, EngineDeps deps);
  ~TrackedObject();
  TrackedObject(const TrackedObject&) = delete;
  TrackedObject& operator=(const TrackedObject&) = delete;

  const trigger::ScalerSpec& spec() const { return *spec_; }
  /// The labels of this trigger's self-metrics series (namespace, ScaledObject, metric name).
  telemetry::TriggerLabels MetricLabels() const { return {spec_->key.ns, spec_->key.name, spec_->metric_name}; }
  /// The structured fields of this trigger's log lines (namespace, scaledobject, trigger: the
  /// same values as MetricLabels()); views into the spec, which outlives every log call.
  telemetry::LogFields LogContext() const { return {spec_->key.ns, spec_->key.name, spec_->metric_name, {}, {}}; }
  /// The latest evaluation; never null (a "pending" one before the first cycle ends).
  EvaluationConstPtr Latest() const;

  /// Calls `fn` (on the collector thread) each time activity rises from false to true.
  /// `fn` must not block. Returns an id for Unsubscribe().
  uint64_t Subscribe(ActivatedFn fn);
  void Unsubscribe(uint64_t id);
  /// True while a StreamIsActive stream (or anything else) is subscribed.
  bool HasSubscribers() const;

  /// Calls `fn` once the first collection cycle has been published (at once if it has),
  /// or when collection stops before that. Lets a first GetMetrics wait for real data
  /// instead of failing. `fn` runs on the collector thread and must not block.
  void OnFirstCycle(std::function<void()> fn);

  /// Demand seen outside the pods (the wake hook): the trigger is active until pods are ready
  /// and show demand themselves, or wakeHold passes. Streams get `true` at once.
  void Wake(TimePoint now, const std::string& reason);

  /// True when the trigger has a wakeQuery (the WakePoller then calls PollWakeQuery).
  bool HasWakeQuery() const { return wake_query_.has_value(); }
  /// Runs the wakeQuery once (network I/O, bounded by its timeout; no lock held while it runs)
  /// and records the result: demand > 0 wakes the trigger at once, an error shows as
  /// wakeError until the next success.
  void PollWakeQuery(TimePoint now);

  void Touch(TimePoint now) { last_access_ns_.store(now.time_since_epoch().count()); }
  TimePoint LastAccess() const { return TimePoint(Duration(last_access_ns_.load())); }
  /// When the last collection cycle ended, or when tracking began if none has.
  TimePoint LastCycleEnd() const { return TimePoint(Duration(last_cycle_end_ns_.load())); }
  bool HasCompletedCycle() const { return cycles_.load() > 0; }

  /// Builds this trigger's snapshot from a shared cycle (SnapshotBuilder), evaluates it, applies
  /// the wake hold and publishes the answer. No I/O. Called by one collector worker at a time.
  void Ingest(const CycleData& data);

  /// Ends the trigger: first-cycle waiters are released; later Ingest() calls are ignored.
  void Stop();

 private:
  /// Logs the cycle's events (with the pod's name where one is named) and counts its scrapes.
  void LogCycle(const CycleData& data, const BuiltSnapshot& built);
  /// Requests held or in flight at the front door wake the trigger while no ready pod shows
  /// demand (docs/front-doors.md "Scraping the front door").
  void WakeOnFrontDoorDemand(const Evaluation& ev, TimePoint now);
  void Publish(EvaluationConstPtr ev, TimePoint now);
  void ApplyWake(Evaluation* ev, TimePoint now);
  void ReleaseFirstCycleWaiters();
  /// LogContext() plus the pod of data.urls[i]; views into `data` and the spec.
  telemetry::LogFields PodContext(const CycleData& data, size_t i) const;

  const trigger::ScalerSpecConstPtr spec_;
  const EngineDeps deps_;
  SnapshotBuilder builder_;             // used by the collector worker running this trigger's group only
  Evaluator evaluator_;                 // likewise
  signals::SnapshotConstPtr snapshot_;  // likewise
  std::optional<sources::PrometheusQuerySource> wake_query_;
  std::string last_wake_error_;  // the WakePoller's thread only: what was last logged
  std::shared_ptr<spdlog::logger> log_;

  mutable std::mutex mu_;  // guards latest_, subscribers_, next_id_
  EvaluationConstPtr latest_;
  std::map<uint64_t, ActivatedFn> subscribers_;
  std::vector<std::function<void()>> first_cycle_waiters_;
  TimePoint wake_until_{};  // a wake is in force while now < wake_until_
  std::string wake_error_;  // why the last wakeQuery failed ("" after a success)
  TimePoint last_push_{};   // when streams were last told `true`
  bool first_cycle_done_ = false;
  uint64_t next_id_ = 1;

  std::atomic<int64_t> last_access_ns_{0};
  std::atomic<int64_t> last_cycle_end_ns_{0};
  std::atomic<uint64_t> cycles_{0};

  std::atomic<bool> stopped_{false};
};

}  // namespace nimscaler::engine
