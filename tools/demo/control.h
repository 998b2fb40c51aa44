#pragma once
// KEDA and HPA control loops for the demo, pure (time passed in), each rule with its source.
//
// HPA: kubernetes/kubernetes pkg/controller/podautoscaler/{horizontal.go,replica_calculator.go}
//  - External metric, AverageValue target (what KEDA creates): usageRatio = sum / (target *
//    currentReplicas); inside the tolerance (default 0.1, --horizontal-pod-autoscaler-tolerance)
//    keep current, else desired = ceil(sum / target) (GetExternalPerPodMetricReplicas).
//  - Pods metric, AverageValue target (the article's HPA on gpu_cache_usage_perc): usageRatio =
//    mean over pods with a sample / target; starting (unready) pods are ignored, except that
//    when scaling up they count as 0; pods without a sample count as 0 when scaling up and as
//    the target when scaling down; desired = ceil(ratio * pods) (calcPlainMetricReplicas).
//  - behavior defaults (pkg/apis/autoscaling/v2/defaults.go): scale-up stabilization 0 s,
//    policies max(100% , 4 pods) per 15 s; scale-down stabilization 300 s, 100% per 15 s.
//    Stabilization: up = min of recommendations in the up window, down = max of those in the
//    down window (stabilizeRecommendationWithBehaviors); rate limits from the replicas at the
//    start of each policy period (convertDesiredReplicasWithBehaviorRate).
//  - Sync period 15 s (--horizontal-pod-autoscaler-sync-period); disabled at 0 replicas.
// KEDA: kedacore/keda pkg/scaling/executor/scale_scaledobjects.go, pkg/scaling/scale_handler.go
//  - every pollingInterval (default 30 s): active at 0 replicas -> scale to max(min, 1);
//    active -> lastActiveTime = now; inactive with replicas > 0 and minReplicaCount 0 ->
//    scale to 0 once lastActiveTime + cooldownPeriod (default 300 s) has passed (never set:
//    creation + initialCooldownPeriod, default 0).
//  - StreamIsActive true (external-push): at 0 replicas scale to max(min, 1) at once, else
//    refresh lastActiveTime; false is ignored (v2.18+).
//  - HPA minReplicas = max(minReplicaCount, 1), maxReplicas = maxReplicaCount.

#include <cmath>
#include <deque>
#include <optional>
#include <vector>

namespace demo {

struct HpaConfig {
  int min_replicas = 1, max_replicas = 10;
  double tolerance = 0.1;
  double up_window = 0, down_window = 300;
  double up_percent = 100, up_pods = 4, up_period = 15;
  double down_percent = 100, down_period = 15;
};

/// One pod as the HPA sees it for a Pods metric.
struct PodSample {
  bool ready = false;
  std::optional<double> value;  ///< the metric, when the metrics pipeline has one
};

class Hpa {
 public:
  explicit Hpa(HpaConfig c) : c_(c) {}

  /// External metric with AverageValue target: the replica count the metric asks for.
  int ExternalAverageValue(double sum, double target, int current) const;
  /// Pods metric with AverageValue target.
  int PodsAverageValue(const std::vector<PodSample>& pods, double target, int current) const;

  /// One sync: clamps, stabilizes and rate-limits `recommended`; returns the new replica
  /// count (== current when nothing changes) and records the scale event.
  int Normalize(double now, int current, int recommended);

  const HpaConfig& config() const { return c_; }

 private:
  struct Rec {
    double at;
    int replicas;
  };
  struct Event {
    double at;
    int delta;
  };
  HpaConfig c_;
  std::deque<Rec> recs_;
  std::deque<Event> events_;
};

struct KedaConfig {
  int min_replicas = 0, max_replicas = 10;
  double polling_interval = 30, cooldown = 300, initial_cooldown = 0;
};

class Keda {
 public:
  explicit Keda(KedaConfig c, double created_at = 0) : c_(c), created_at_(created_at) {}
  /// Poll result; returns the replica count KEDA sets (or `replicas` unchanged).
  int Poll(double now, bool active, int replicas);
  /// StreamIsActive message.
  int Push(double now, bool active, int replicas);
  std::optional<double> last_active() const { return last_active_; }
  const KedaConfig& config() const { return c_; }

 private:
  KedaConfig c_;
  double created_at_;
  std::optional<double> last_active_;
};

}  // namespace demo
