#pragma once
// Evaluator: turns a ScaledObject's successive Snapshots into the answers KEDA gets (value,
// activity, or an error status). It owns the per-pod windows (counter rates, histogram
// quantiles) and the decision policy (stable/panic windows), and applies the fault policies
// of docs/operations.md "What KEDA gets, and when". Pure apart from its own state: time is passed in.

#include <map>
#include <memory>
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
