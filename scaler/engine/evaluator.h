#pragma once
// Evaluate(): turns a ScaledObject's latest Snapshot into the answer KEDA gets (value,
// activity, or an error status), applying the fault policies of product.md §5. Pure.

#include <map>
#include <memory>
#include <string>

#include "scaler/common/result.h"
#include "scaler/signals/snapshot.h"
#include "scaler/spec/scaler_spec.h"

namespace nimscaler::engine {

/// One evaluation; immutable once published.
struct Evaluation {
  Status status;          ///< OK, or why there is no value (UNAVAILABLE, FAILED_PRECONDITION)
  double value = 0;       ///< desired replicas: finite and >= 0 when status is OK
  bool active = false;    ///< IsActive answer when status is OK
  bool held = false;      ///< value kept from the previous cycle because a pod is missing
  bool pending = false;   ///< no collection cycle has finished yet (status is UNAVAILABLE)
  TimePoint at{};
  std::map<std::string, double> signals;  ///< aggregated (sum over usable pods)
  signals::SnapshotConstPtr snapshot;
};
using EvaluationConstPtr = std::shared_ptr<const Evaluation>;

/// `previous` may be null (first cycle). Never throws; NaN and negatives never escape.
Evaluation Evaluate(const spec::ScalerSpec& spec, const signals::SnapshotConstPtr& snapshot,
                    const Evaluation* previous, TimePoint now);

}  // namespace nimscaler::engine
