// The Knative-style decision policy: stable and panic windows, the panic ratchet, and a burst
// of queued requests driven through a real compiled formula.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "scaler/formula/formula.h"
#include "scaler/signals/window/window.h"
#include "tests/signals/window/test_time.h"

namespace nimscaler::signals {
namespace {

using std::chrono::seconds;

// One pod's gauges, as the engine would bind them after a scrape.
class PodGauges : public formula::Bindings {
 public:
  std::vector<double> waiting;
  double ready = 1;
  std::span<const double> Gauge(std::string_view signal) const override {
    if (signal == "waiting") return waiting;
    return {};
  }
  double Rate(std::string_view) const override { return std::nan(""); }
  formula::Windowed Quantile(double, std::string_view) const override { return {}; }
  double Replicas() const override { return ready; }
  double Pods() const override { return ready; }
};

TEST(DecisionPolicyTest, SteadyLoadIsReportedAsIs) {
  DecisionPolicy policy;
  Decision d;
  for (int t = 0; t <= 120; t += 2) d = policy.Update(At(t), 3, 3);
  EXPECT_DOUBLE_EQ(d.value, 3);
  EXPECT_DOUBLE_EQ(d.stable, 3);
  EXPECT_DOUBLE_EQ(d.panic, 3);
  EXPECT_FALSE(d.panicking);
}

TEST(DecisionPolicyTest, StableValueIsTheWindowAverage) {
  DecisionPolicy policy;
  Decision d;
  for (int t = 2; t <= 60; t += 2) d = policy.Update(At(t), 2, 4);
  for (int t = 62; t <= 90; t += 2) d = policy.Update(At(t), 4, 4);
  // (30, 90]: fifteen samples of 2 (t = 32..60) and fifteen of 4 (t = 62..90).
  EXPECT_DOUBLE_EQ(d.stable, 3);
  EXPECT_DOUBLE_EQ(d.panic, 4);  // (84, 90]
  EXPECT_FALSE(d.panicking);     // 4 < 2 x 4 ready
  EXPECT_DOUBLE_EQ(d.value, 3);
}

TEST(DecisionPolicyTest, ScaleDownFollowsTheStableWindowWithoutPanic) {
  DecisionPolicy policy;
  Decision d;
  for (int t = 0; t <= 60; t += 2) d = policy.Update(At(t), 8, 8);
  std::vector<double> values;
  for (int t = 62; t <= 120; t += 2) {
    d = policy.Update(At(t), 2, 8);
    values.push_back(d.value);
  }
  // It goes down gradually, one sample's share at a time, and lands on 2 after a full window.
  for (size_t i = 1; i < values.size(); ++i) EXPECT_LT(values[i], values[i - 1]);
  EXPECT_DOUBLE_EQ(values.front(), (29 * 8 + 2) / 30.0);
  EXPECT_DOUBLE_EQ(values.back(), 2);
}

// The burst scenario of docs/formula.md "The decision": waiting jumps tenfold within seconds. The answer rises on the
// first sample that sees it and does not fall until a full stable window passes without panic.
TEST(DecisionPolicyTest, BurstPanicsAtOnceAndHoldsForAFullWindow) {
  auto program = formula::Compile("sum(waiting) / 4");
  ASSERT_TRUE(program.ok()) << program.status().message();
  DecisionPolicy policy;  // 60 s stable, 6 s panic, threshold 2
  PodGauges pod;
  pod.waiting = {4};
  Decision d;
  for (int t = 0; t <= 120; t += 2) d = policy.Update(At(t), (*program)->Evaluate(pod), 1);
  ASSERT_DOUBLE_EQ(d.value, 1);
  ASSERT_FALSE(d.panicking);
  const double before = d.value;

  // t = 122: waiting x10.
  pod.waiting = {40};
  d = policy.Update(At(122), (*program)->Evaluate(pod), 1);
  EXPECT_TRUE(d.panicking);
  // Panic window (116, 122] holds 1, 1, 10.
  EXPECT_DOUBLE_EQ(d.panic, 4);
  EXPECT_DOUBLE_EQ(d.value, 4);
  EXPECT_GT(d.value, before);

  // The burst lasts until t = 130; the HPA adds replicas from t = 140.
  double last = d.value;
  double peak = d.value;
  for (int t = 124; t <= 192; t += 2) {
    pod.waiting = {t <= 130 ? 40.0 : 4.0};
    pod.ready = t >= 140 ? 10 : 1;
    d = policy.Update(At(t), (*program)->Evaluate(pod), pod.ready);
    EXPECT_TRUE(d.panicking) << "t=" << t;
    EXPECT_GE(d.value, last) << "the answer went down while panicking at t=" << t;
    last = d.value;
    peak = std::max(peak, d.value);
  }
  EXPECT_DOUBLE_EQ(peak, 10);  // the panic average reached the burst's full value
  EXPECT_DOUBLE_EQ(last, 10);
  // The last over-threshold tick was t = 134 (panic window 130, 132, 134 = 10, 1, 1 -> 4 >= 2);
  // a full 60 s window later the policy calms down and reports the stable average again.
  pod.waiting = {4};
  d = policy.Update(At(194), (*program)->Evaluate(pod), 10);
  EXPECT_FALSE(d.panicking);
  EXPECT_DOUBLE_EQ(d.value, 1);  // (134, 194] holds only ones
}

TEST(DecisionPolicyTest, ANewBurstDuringPanicRestartsTheTimer) {
  DecisionPolicy policy;
  for (int t = 0; t <= 60; t += 2) policy.Update(At(t), 1, 1);
  policy.Update(At(62), 10, 1);  // panic
  for (int t = 64; t <= 100; t += 2) policy.Update(At(t), 1, 1);
  // Over the threshold again at t = 102: the panic now lasts until t = 162 or later.
  Decision d = policy.Update(At(102), 10, 1);
  EXPECT_TRUE(d.panicking);
  for (int t = 104; t <= 162; t += 2) d = policy.Update(At(t), 1, 1);
  // Panic window at 104 = (98, 104] = 1, 10, 1 -> 4 >= 2: the last over tick is t = 106.
  EXPECT_TRUE(d.panicking);
  d = policy.Update(At(166), 1, 1);
  EXPECT_FALSE(d.panicking);
}

TEST(DecisionPolicyTest, BurstFromZeroReadyReplicasPanics) {
  DecisionPolicy policy;
  for (int t = 0; t <= 30; t += 2) policy.Update(At(t), 0, 0);
  Decision d = policy.Update(At(32), 6, 0);  // panic avg (26, 32] = 0, 0, 6 = 2 >= 2 x max(1, 0)
  EXPECT_TRUE(d.panicking);
  EXPECT_DOUBLE_EQ(d.value, 2);
}

TEST(DecisionPolicyTest, NoDataIsNotZeroLoad) {
  DecisionPolicy policy;
  Decision d = policy.Update(At(0), std::nan(""), 1);
  EXPECT_TRUE(std::isnan(d.value));  // nothing yet: no answer
  for (int t = 2; t <= 20; t += 2) d = policy.Update(At(t), 5, 5);
  // A scrape without an answer keeps the average of what was seen.
  d = policy.Update(At(22), std::nan(""), 5);
  EXPECT_DOUBLE_EQ(d.value, 5);
  d = policy.Update(At(24), std::numeric_limits<double>::infinity(), 5);
  EXPECT_DOUBLE_EQ(d.value, 5);
  // Only after the whole window has no sample is there no answer again.
  d = policy.Update(At(200), std::nan(""), 5);
  EXPECT_TRUE(std::isnan(d.value));
}

TEST(DecisionPolicyTest, NegativeValuesCountAsZero) {
  DecisionPolicy policy;
  policy.Update(At(0), -4, 1);
  Decision d = policy.Update(At(2), 2, 1);
  EXPECT_DOUBLE_EQ(d.stable, 1);
}

TEST(DecisionPolicyTest, CustomWindowsAndThreshold) {
  PolicyOptions options;
  options.stable_window = seconds(10);
  options.panic_window = seconds(2);
  options.panic_threshold = 3;
  DecisionPolicy policy(options);
  for (int t = 0; t <= 10; ++t) policy.Update(At(t), 1, 1);
  Decision d = policy.Update(At(11), 5, 1);  // panic avg (9, 11] = 1, 5 -> 3 >= 3
  EXPECT_TRUE(d.panicking);
  EXPECT_DOUBLE_EQ(d.value, 3);
  for (int t = 12; t <= 20; ++t) d = policy.Update(At(t), 1, 1);
  // Last over tick: t = 11 (t = 12: (10, 12] = 5, 1 -> 3 >= 3, so t = 12).
  EXPECT_TRUE(d.panicking);
  d = policy.Update(At(22), 1, 1);
  EXPECT_FALSE(d.panicking);
  EXPECT_DOUBLE_EQ(d.value, 1);
}

}  // namespace
}  // namespace nimscaler::signals
