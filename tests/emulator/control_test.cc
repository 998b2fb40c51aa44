// The demo's KEDA and HPA rules (tools/demo/control.h cites each rule's source).
#include "tools/demo/control.h"

#include <gtest/gtest.h>

namespace demo {
namespace {

TEST(Hpa, ExternalAverageValueIsCeilOutsideTolerance) {
  Hpa h(HpaConfig{});
  // The article's number: 0.208 KV against 0.1 -> nim-scaler reports 2.08 -> 3 replicas.
  EXPECT_EQ(h.ExternalAverageValue(2.08, 1.0, 1), 3);
  EXPECT_EQ(h.ExternalAverageValue(1.05, 1.0, 1), 1);  // within 10%
  EXPECT_EQ(h.ExternalAverageValue(2.82, 1.0, 3), 3);  // ratio 0.94
  EXPECT_EQ(h.ExternalAverageValue(3.9, 1.0, 3), 4);
  EXPECT_EQ(h.ExternalAverageValue(0.0, 1.0, 3), 0);  // Normalize clamps to minReplicas
}

TEST(Hpa, PodsMetricAverageValue) {
  Hpa h(HpaConfig{});
  // One pod at 0.208 against 100m: ratio 2.08 -> ceil(2.08 * 1) = 3.
  EXPECT_EQ(h.PodsAverageValue({{true, 0.208}}, 0.1, 1), 3);
  // Three pods at ~0.094: ratio 0.94, inside the tolerance.
  EXPECT_EQ(h.PodsAverageValue({{true, 0.094}, {true, 0.095}, {true, 0.093}}, 0.1, 3), 3);
  // Scaling up with starting pods: they count as 0 (1 ready at 0.25 + 2 starting -> ratio
  // 0.83 -> no scale-down below current either).
  EXPECT_EQ(h.PodsAverageValue({{true, 0.25}, {false, {}}, {false, {}}}, 0.1, 3), 3);
  // A ready pod the pipeline has not scraped yet counts as 0 when scaling up.
  EXPECT_EQ(h.PodsAverageValue({{true, 0.4}, {true, {}}}, 0.1, 2), 4);
  // No data at all: no change.
  EXPECT_EQ(h.PodsAverageValue({{true, {}}}, 0.1, 2), 2);
}

TEST(Hpa, ScaleDownWaitsForTheStabilizationWindow) {
  Hpa h(HpaConfig{});
  EXPECT_EQ(h.Normalize(0, 1, 3), 3);  // up: no window
  EXPECT_EQ(h.Normalize(15, 3, 3), 3);
  // Load gone at t=30: recommendations of 1 are held back by the 300 s max-window.
  int r = 3;
  for (double t = 30; t < 315; t += 15) {
    r = h.Normalize(t, r, 1);
    EXPECT_EQ(r, 3) << t;
  }
  EXPECT_EQ(h.Normalize(330, 3, 1), 1);  // the last 3 was recommended at t=15
}

TEST(Hpa, ScaleUpRateLimit) {
  HpaConfig c;
  c.max_replicas = 50;
  Hpa h(c);
  // max(100%, 4 pods) per 15 s from 1: at most 5.
  EXPECT_EQ(h.Normalize(0, 1, 20), 5);
  // Within the same period the budget is spent.
  EXPECT_EQ(h.Normalize(5, 5, 20), 5);
  EXPECT_EQ(h.Normalize(16, 5, 20), 10);
  EXPECT_EQ(h.Normalize(100, 10, 60), 20);
}

TEST(Keda, ActivationAndCooldownToZero) {
  Keda k(KedaConfig{}, 0);
  EXPECT_EQ(k.Poll(0, false, 1), 0);   // never active: creation + initialCooldown 0
  EXPECT_EQ(k.Poll(30, true, 0), 1);   // active at zero -> max(min, 1)
  EXPECT_EQ(k.Poll(60, true, 3), 3);   // active: only lastActiveTime
  EXPECT_EQ(k.Poll(90, false, 3), 3);  // inactive: cooldown 300 s from t=60
  EXPECT_EQ(k.Poll(330, false, 3), 3);
  EXPECT_EQ(k.Poll(360, false, 3), 0);
}

TEST(Keda, PushActsAtOnceAndIgnoresFalse) {
  Keda k(KedaConfig{}, 0);
  EXPECT_EQ(k.Push(10, false, 0), 0);
  EXPECT_EQ(k.Push(11, true, 0), 1);
  EXPECT_EQ(k.Push(200, true, 2), 2);
  EXPECT_EQ(*k.last_active(), 200);
  EXPECT_EQ(k.Poll(450, false, 2), 2);  // the push restarted the cooldown
  EXPECT_EQ(k.Poll(500, false, 2), 0);
}

}  // namespace
}  // namespace demo
