// Exports Evaluate(). Every policy below has a why-comment; each has a test in
// tests/engine/evaluator_test.cc.
#include "scaler/engine/evaluator.h"

#include <algorithm>
#include <cmath>

namespace nimscaler::engine {

Evaluation Evaluate(const spec::ScalerSpec& spec, const signals::SnapshotConstPtr& snapshot,
                    const Evaluation* previous, TimePoint now) {
  Evaluation ev;
  ev.at = now;
  ev.snapshot = snapshot;
  if (snapshot == nullptr) {
    ev.status = Unavailable(spec.key.ToString() + ": first collection has not finished yet");
    ev.pending = true;
    return ev;
  }
  if (snapshot->pods.empty()) {
    if (snapshot->discovered == 0 && snapshot->discovery_error.empty()) {
      // Scaled to zero: no pod, no demand that pods could show (wake sources come on top).
      ev.value = 0;
      ev.active = false;
      ev.signals["replicas"] = 0;
      ev.signals["pods"] = 0;
      return ev;
    }
    // Pods exist but none is ready yet (starting), or discovery is failing: no data is not
    // zero demand, so keep the last answer rather than scale down.
    if (previous != nullptr && previous->status.ok()) {
      ev.value = previous->value;
      ev.active = previous->active;
      ev.held = true;
      ev.signals = previous->signals;
      return ev;
    }
    ev.status = Unavailable(spec.key.ToString() + ": " +
                            (snapshot->discovery_error.empty()
                                 ? std::to_string(snapshot->discovered) + " pod(s) discovered, none ready yet"
                                 : "discovery failed: " + snapshot->discovery_error));
    return ev;
  }
  // No usable pod at all: report UNAVAILABLE (with the cause) so KEDA's fallback can act,
  // rather than a zero that would scale the model down.
  if (snapshot->UsablePods() == 0) {
    std::string why = snapshot->pods.empty() ? "no pods discovered" : snapshot->pods.front().error;
    ev.status = Unavailable(spec.key.ToString() + ": no ready pod answered for more than " +
                            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(spec.stale_keep).count()) +
                            "s (" + std::to_string(snapshot->pods.size()) + " pods; first error: " + why + ")");
    return ev;
  }

  for (const char* s : {signals::kKvCache, signals::kWaiting, signals::kRunning}) {
    if (auto sum = snapshot->Sum(s)) ev.signals[s] = *sum;
  }
  ev.signals["replicas"] = static_cast<double>(snapshot->pods.size());
  ev.signals["pods"] = static_cast<double>(std::max(snapshot->discovered, snapshot->pods.size()));

  double value = 0;
  for (const auto& t : spec.targets) {
    auto sum = snapshot->Sum(t.signal);
    if (!sum) {
      // Pods answer but none serves this metric: a configuration problem, not a zero.
      std::string detail;
      for (const auto& p : snapshot->pods) {
        if (!p.missing.empty()) {
          detail = p.endpoint + ": " + p.missing;
          break;
        }
      }
      ev.status = FailedPrecondition(spec.key.ToString() + ": no pod serves the metric for signal " + t.signal +
                                     " (" + t.key + ")" + (detail.empty() ? "" : "; " + detail));
      return ev;
    }
    value = std::max(value, *sum / t.per_replica);
  }
  if (!std::isfinite(value) || value < 0) value = 0;
  // Ratios like 0.208 / 0.1 carry binary noise (2.0799999999999996); a billionth of a
  // replica means nothing, so report the decimal the user expects (2.08).
  value = std::round(value * 1e9) / 1e9;

  // No scale-down on missing data: while any pod is not answering, the answer may rise
  // but never fall below the previous one.
  bool pod_missing = std::any_of(snapshot->pods.begin(), snapshot->pods.end(),
                                 [](const signals::PodReading& p) { return !p.answered; });
  if (pod_missing && previous != nullptr && previous->status.ok() && previous->value > value) {
    value = previous->value;
    ev.held = true;
  }
  ev.value = value;

  // Default activation (product.md §4): demand is any waiting or running request, decided
  // on raw counts so a tiny value never rounds to "inactive".
  double demand = 0;
  if (auto w = ev.signals.find(signals::kWaiting); w != ev.signals.end()) demand += w->second;
  if (auto r = ev.signals.find(signals::kRunning); r != ev.signals.end()) demand += r->second;
  ev.active = demand > 0;
  if (pod_missing && previous != nullptr && previous->status.ok() && previous->active) ev.active = true;
  return ev;
}

}  // namespace nimscaler::engine
