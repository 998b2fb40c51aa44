#pragma once
// Evaluator: turns a ScaledObject's successive Snapshots into the answers KEDA gets (value,
// activity, or an error status). It owns the per-pod windows (counter rates, histogram
// quantiles) and the decision policy (stable/panic windows), and applies the fault policies
// of docs/operations.md "What KEDA gets, and when". Pure apart from its own state: time is passed in.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/signals/snapshot.h"
#include "scaler/signals/window/window.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler::engine {

/// One evaluation; immutable once published.
struct Evaluation {
  Status status;           ///< OK, or why there is no value (UNAVAILABLE, FAILED_PRECONDITION)
  double value = 0;        ///< desired replicas: finite and >= 0 when status is OK
  bool active = false;     ///< IsActive answer when status is OK
  bool held = false;       ///< value kept from the previous cycle (a pod is missing, or no data)
  bool pending = false;    ///< no collection cycle has finished yet (status is UNAVAILABLE)
  bool panicking = false;  ///< the panic window drove the value (docs/formula.md "The decision")
  bool woken = false;      ///< active because of a wake (wakeQuery or the wake hook), not the pods
  std::string wake_error;  ///< why wakeQuery could not be evaluated this cycle
  double raw = 0;          ///< the formula's value this cycle, before the decision policy
  TimePoint at{};
  /// Aggregates for debugging and telemetry: sum of each gauge over pods, rate of each counter
  /// ("<name>_rate"), each quantile used ("<name>_p95"), replicas and pods.
  std::map<std::string, double> signals;
  signals::SnapshotConstPtr snapshot;
};
using EvaluationConstPtr = std::shared_ptr<const Evaluation>;

/// Not thread-safe: one Evaluator per tracked object, used by its collection thread.
class Evaluator {
 public:
  explicit Evaluator(trigger::ScalerSpecConstPtr spec);
  ~Evaluator();

  /// The answer before any collection cycle finished.
  Evaluation Pending(TimePoint now) const;

  /// Feeds one snapshot (taken at snapshot->taken_at) and decides. `snapshot` may be null.
  Evaluation Update(const signals::SnapshotConstPtr& snapshot, TimePoint now);

 private:
  struct PodWindows;
  class SnapshotBindings;

  void FeedWindows(const signals::Snapshot& snapshot);
  void RecordTrendInputs(const signals::Snapshot& snapshot);
  Evaluation Hold(Evaluation ev, const std::string& why_if_none) const;
  // Keeps `ev` as the last answer when it has one.
  Evaluation Finish(Evaluation ev);
  // The answer when no pod can be read: scaled to zero (0), pods not ready yet (hold), or every
  // pod failing (UNAVAILABLE, or FAILED_PRECONDITION when they answer with metrics this trigger
  // cannot read). Nothing when some pod is usable.
  std::optional<Evaluation> WithoutUsablePods(Evaluation ev, const signals::Snapshot& snapshot);
  // Every signal the formulas read must be served by some usable pod, as the kind the formula
  // needs: a missing or mistyped metric is a configuration problem, not a zero.
  Status CheckSignalsServed(const signals::Snapshot& snapshot) const;
  // Why a gauge the formulas read has no usable level (every pod serves it as NaN or Inf); "".
  std::string UnusableGauge(const SnapshotBindings& bindings) const;
  // The signals /debug and the self-metrics show: rates, quantiles, levels, replicas, front door.
  void ShowSignals(const signals::Snapshot& snapshot, const SnapshotBindings& bindings, Evaluation* ev) const;
  void AddFrontDoorSignals(const signals::Snapshot& snapshot, Evaluation* ev) const;
  // Whether some input the formulas read is missing: a pod not answering, or a front door none of
  // whose endpoints answers while a formula reads it.
  bool InputMissing(const signals::Snapshot& snapshot) const;

  trigger::ScalerSpecConstPtr spec_;
  std::map<std::string, std::unique_ptr<PodWindows>> pods_;  // by endpoint URL
  signals::DecisionPolicy policy_;
  // The values of each trend()/predict() input over the window, by slot: of the value formula
  // and of the activation formula.
  std::vector<signals::GaugeWindow> value_trends_;
  std::vector<signals::GaugeWindow> activation_trends_;
  std::shared_ptr<const Evaluation> last_ok_;  // the last evaluation with an answer
};

}  // namespace nimscaler::engine
