// KEDA and HPA rules: see control.h for each rule's source.
#include "tools/demo/control.h"

#include <algorithm>

namespace demo {

int Hpa::ExternalAverageValue(double sum, double target, int current) const {
  if (current <= 0 || target <= 0) return current;
  double ratio = sum / (target * current);
  if (std::fabs(1 - ratio) <= c_.tolerance) return current;
  return int(std::ceil(sum / target));
}

int Hpa::PodsAverageValue(const std::vector<PodSample>& pods, double target, int current) const {
  std::vector<double> metrics;
  int unready = 0, missing = 0;
  for (auto& p : pods) {
    if (!p.ready) {
      ++unready;
    } else if (p.value) {
      metrics.push_back(*p.value);
    } else {
      ++missing;
    }
  }
  if (metrics.empty()) return current;  // no data: the HPA does not act (FailedGetPodsMetric)
  double sum = 0;
  for (double v : metrics) sum += v;
  double ratio = sum / double(metrics.size()) / target;
  bool up_with_unready = unready > 0 && ratio > 1;
  if (missing == 0 && !up_with_unready) {
    if (std::fabs(1 - ratio) <= c_.tolerance) return current;
    return int(std::ceil(ratio * double(metrics.size())));
  }
  double n = double(metrics.size());
  if (missing > 0) {
    if (ratio < 1) sum += target * missing;  // scale down: missing pods at the target
    n += missing;                            // scale up: missing pods at 0
  }
  if (up_with_unready) n += unready;  // unready pods at 0
  double new_ratio = sum / n / target;
  int desired = int(std::ceil(new_ratio * n));
  if (std::fabs(1 - new_ratio) <= c_.tolerance || (ratio < 1 && desired > current) || (ratio > 1 && desired < current))
    return current;
  return desired;
}

int Hpa::Normalize(double now, int current, int recommended) {
  recommended = std::clamp(recommended, c_.min_replicas, c_.max_replicas);
  recs_.push_back({now, recommended});
  double keep = std::max(c_.up_window, c_.down_window);
  while (!recs_.empty() && recs_.front().at < now - keep) recs_.pop_front();
  int up = recommended, down = recommended;
  for (auto& r : recs_) {
    if (r.at > now - c_.up_window) up = std::min(up, r.replicas);
    if (r.at > now - c_.down_window) down = std::max(down, r.replicas);
  }
  int desired = current;
  if (current < up)
    desired = up;
  else if (current > down)
    desired = down;
  // Rate limits, from the replicas at the start of the policy period.
  int added = 0, removed = 0;
  for (auto& e : events_) {
    if (e.delta > 0 && e.at > now - c_.up_period) added += e.delta;
    if (e.delta < 0 && e.at > now - c_.down_period) removed -= e.delta;
  }
  if (desired > current) {
    int start = current - added;
    int limit = std::max(int(std::ceil(start * (1 + c_.up_percent / 100))), start + int(c_.up_pods));
    desired = std::min(desired, limit);
  } else if (desired < current) {
    int start = current + removed;
    int limit = int(std::ceil(start * (1 - c_.down_percent / 100)));
    desired = std::max(desired, limit);
  }
  desired = std::clamp(desired, c_.min_replicas, c_.max_replicas);
  if (desired != current) events_.push_back({now, desired - current});
  while (!events_.empty() && events_.front().at < now - std::max(c_.up_period, c_.down_period)) events_.pop_front();
  return desired;
}

int Keda::Poll(double now, bool active, int replicas) {
  if (active) {
    last_active_ = now;
    if (replicas == 0) return std::max(c_.min_replicas, 1);
    return replicas;
  }
  if (replicas > 0 && c_.min_replicas == 0) {
    // Never active: creation + initialCooldownPeriod; else lastActiveTime + cooldownPeriod.
    double until = last_active_ ? *last_active_ + c_.cooldown : created_at_ + c_.initial_cooldown;
    if (now >= until) return 0;
  }
  if (replicas < c_.min_replicas) return c_.min_replicas;
  return replicas;
}

int Keda::Push(double now, bool active, int replicas) {
  if (!active) return replicas;  // ignored since KEDA v2.18
  if (replicas == 0) {
    last_active_ = now;
    return std::max(c_.min_replicas, 1);
  }
  last_active_ = now;
  return replicas;
}

}  // namespace demo
