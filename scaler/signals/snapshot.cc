// Exports the Snapshot aggregation helpers.
#include "scaler/signals/snapshot.h"

namespace nimscaler::signals {

size_t Snapshot::UsablePods() const {
  size_t n = 0;
  for (const auto& p : pods) n += (p.answered || p.stale) ? 1 : 0;
  return n;
}

namespace {
std::optional<double> SumOf(const std::vector<PodReading>& readings, const std::string& signal) {
  std::optional<double> total;
  for (const auto& p : readings) {
    if (!p.answered && !p.stale) continue;
    auto it = p.gauges.find(signal);
    if (it == p.gauges.end() || !std::isfinite(it->second)) continue;
    total = total.value_or(0) + it->second;
  }
  return total;
}
}  // namespace

std::optional<double> Snapshot::Sum(const std::string& signal) const { return SumOf(pods, signal); }

std::optional<double> Snapshot::FrontDoorSum(const std::string& signal) const { return SumOf(front_door, signal); }

}  // namespace nimscaler::signals
