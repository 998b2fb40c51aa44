// Ring buffer, gauge averages and counter rates over windows, with time passed in.
#include "scaler/signals/window/window.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/signals/window/test_time.h"

namespace nimscaler::signals {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<double> Values(const TimeRing<double>& ring) {
  std::vector<double> out;
  for (size_t i = 0; i < ring.size(); ++i) out.push_back(ring[i].value);
  return out;
}

// ---- TimeRing -------------------------------------------------------------------------------

TEST(TimeRingTest, KeepsTimeOrderAndRefusesTheOlder) {
  TimeRing<double> ring(8);
  EXPECT_TRUE(ring.Push(At(1), 1));
  EXPECT_TRUE(ring.Push(At(2), 2));
  EXPECT_FALSE(ring.Push(At(1.5), 9));  // out of order: refused
  EXPECT_TRUE(ring.Push(At(2), 3));     // same time: replaces the newest
  EXPECT_EQ(Values(ring), (std::vector<double>{1, 3}));
}

TEST(TimeRingTest, FullRingDropsTheOldest) {
  TimeRing<double> ring(3);
  for (int i = 1; i <= 5; ++i) ring.Push(At(i), i);
  EXPECT_EQ(Values(ring), (std::vector<double>{3, 4, 5}));
  EXPECT_EQ(ring[0].time, At(3));
}

TEST(TimeRingTest, DropThroughAndGrowAfterWrapping) {
  TimeRing<double> ring(6);
  for (int i = 1; i <= 3; ++i) ring.Push(At(i), i);
  ring.DropThrough(At(2));  // drops t=1 and t=2
  EXPECT_EQ(Values(ring), (std::vector<double>{3}));
  for (int i = 4; i <= 9; ++i) ring.Push(At(i), i);  // wraps, then grows, then overwrites
  EXPECT_EQ(Values(ring), (std::vector<double>{4, 5, 6, 7, 8, 9}));
  ring.DropThrough(At(100));
  EXPECT_TRUE(ring.empty());
  ring.Push(At(101), 1);
  EXPECT_EQ(Values(ring), (std::vector<double>{1}));
}

TEST(TimeRingTest, FirstAfter) {
  TimeRing<double> ring(8);
  for (int i = 1; i <= 4; ++i) ring.Push(At(i * 2), i);  // t = 2, 4, 6, 8
  EXPECT_EQ(ring.FirstAfter(At(0)), 0u);
  EXPECT_EQ(ring.FirstAfter(At(2)), 1u);  // half-open: t = 2 is not after 2
  EXPECT_EQ(ring.FirstAfter(At(5)), 2u);
  EXPECT_EQ(ring.FirstAfter(At(8)), 4u);
}

// ---- GaugeWindow ----------------------------------------------------------------------------

TEST(GaugeWindowTest, AverageOverAHalfOpenWindow) {
  GaugeWindow w(seconds(60));
  for (int i = 0; i <= 10; ++i) w.Add(At(i * 2), i);  // t = 0..20, value = t / 2
  // (14, 20] holds t = 16, 18, 20: values 8, 9, 10.
  EXPECT_DOUBLE_EQ(w.Average(At(20), seconds(6)), 9);
  // Asking at an earlier time ignores later samples: (10, 14] holds 12, 14 -> 6, 7.
  EXPECT_DOUBLE_EQ(w.Average(At(14), seconds(4)), 6.5);
  EXPECT_DOUBLE_EQ(w.Average(At(20), seconds(60)), 5);
  EXPECT_TRUE(std::isnan(w.Average(At(100), seconds(10))));  // nothing in (90, 100]
}

TEST(GaugeWindowTest, NaNIsMissingNotZero) {
  GaugeWindow w(seconds(60));
  w.Add(At(1), 4);
  w.Add(At(2), std::nan(""));
  w.Add(At(3), 8);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_DOUBLE_EQ(w.Average(At(3), seconds(10)), 6);
  auto latest = w.Latest();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->first, At(3));
  EXPECT_EQ(latest->second, 8);
}

// Issue 13 item 2: trend() and predict() read a least-squares line through the window, as
// PromQL's deriv() and predict_linear() do.
TEST(GaugeWindowTest, LeastSquaresLineThroughTheWindow) {
  GaugeWindow w(seconds(60));
  EXPECT_TRUE(std::isnan(w.LeastSquares(At(0), seconds(10)).slope));
  w.Add(At(0), 1);
  EXPECT_TRUE(std::isnan(w.LeastSquares(At(0), seconds(10)).slope)) << "one point has no slope";
  w.Add(At(1), 3);
  w.Add(At(2), 5);
  auto exact = w.LeastSquares(At(2), seconds(10));
  EXPECT_DOUBLE_EQ(exact.slope, 2);
  EXPECT_DOUBLE_EQ(exact.at_now, 5);
  EXPECT_DOUBLE_EQ(exact.span_seconds, 2);
  // Asked a second later the line is extended to then: 7.
  EXPECT_DOUBLE_EQ(w.LeastSquares(At(3), seconds(10)).at_now, 7);
  // Noise: (0,1) (1,3) (2,5) (3,4): slope 5.5 / 5 = 1.1 through the mean (1.5, 3.25), so
  // 3.25 + 1.1 * 1.5 = 4.9 at t = 3.
  w.Add(At(3), 4);
  auto noisy = w.LeastSquares(At(3), seconds(10));
  EXPECT_NEAR(noisy.slope, 1.1, 1e-12);
  EXPECT_NEAR(noisy.at_now, 4.9, 1e-12);
  // Only (now - window, now]: (1, 3] holds t = 2, 3.
  auto recent = w.LeastSquares(At(3), seconds(2));
  EXPECT_DOUBLE_EQ(recent.slope, -1);
  EXPECT_DOUBLE_EQ(recent.at_now, 4);
}

TEST(GaugeWindowTest, RetentionAndPointCapBoundMemory) {
  GaugeWindow w(seconds(10));
  for (int i = 0; i < 100; ++i) w.Add(At(i), 1);
  EXPECT_EQ(w.size(), 10u);  // (89, 99]
  GaugeWindow capped(seconds(1000), 16);
  for (int i = 0; i < 100; ++i) capped.Add(At(i), i);
  EXPECT_EQ(capped.size(), 16u);
  EXPECT_DOUBLE_EQ(capped.Average(At(99), seconds(1000)), (84 + 99) / 2.0);
  EXPECT_FALSE(GaugeWindow(seconds(1)).Latest().has_value());
}

// ---- CounterWindow --------------------------------------------------------------------------

TEST(CounterWindowTest, SteadyRate) {
  CounterWindow w(seconds(120));
  for (int i = 0; i <= 30; ++i) w.Add(At(i * 2), i * 10.0);  // 5 per second
  EXPECT_DOUBLE_EQ(w.Increase(At(60), seconds(60)), 290);    // (0, 60]: t = 2..60
  EXPECT_DOUBLE_EQ(w.Rate(At(60), seconds(60)), 5);
  EXPECT_DOUBLE_EQ(w.Rate(At(60), seconds(5)), 5);  // t = 56, 58, 60
  EXPECT_DOUBLE_EQ(w.Increase(At(60), seconds(5)), 20);
  EXPECT_EQ(w.resets(), 0u);
}

TEST(CounterWindowTest, NeverARateFromOneSample) {
  CounterWindow w(seconds(60));
  w.Add(At(0), 100);
  EXPECT_TRUE(std::isnan(w.Rate(At(0), seconds(60))));
  EXPECT_TRUE(std::isnan(w.Increase(At(0), seconds(60))));
  w.Add(At(2), 110);
  EXPECT_DOUBLE_EQ(w.Rate(At(2), seconds(60)), 5);
  // Only one sample left inside the window: no rate.
  EXPECT_TRUE(std::isnan(w.Rate(At(3), seconds(2))));
  // Old samples pruned by retention: a lone new sample gives no rate.
  w.Add(At(100), 500);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(std::isnan(w.Rate(At(100), seconds(200))));
}

TEST(CounterWindowTest, ResetTakesTheNewValueAsTheIncrease) {
  CounterWindow w(seconds(60));
  w.Add(At(0), 100);
  w.Add(At(2), 110);  // +10
  w.Add(At(4), 5);    // pod restarted: +5
  w.Add(At(6), 15);   // +10
  EXPECT_DOUBLE_EQ(w.Increase(At(6), seconds(60)), 25);
  EXPECT_DOUBLE_EQ(w.Rate(At(6), seconds(60)), 25.0 / 6);
  EXPECT_EQ(w.resets(), 1u);

  CounterWindow to_zero(seconds(60));
  to_zero.Add(At(0), 100);
  to_zero.Add(At(2), 0);  // restarted and nothing served yet
  to_zero.Add(At(4), 4);
  EXPECT_DOUBLE_EQ(to_zero.Increase(At(4), seconds(60)), 4);
  EXPECT_EQ(to_zero.resets(), 1u);

  // Two restarts in a row.
  CounterWindow twice(seconds(60));
  for (auto [t, v] : std::vector<std::pair<double, double>>{{0, 50}, {1, 60}, {2, 3}, {3, 1}, {4, 2}}) {
    twice.Add(At(t), v);
  }
  EXPECT_DOUBLE_EQ(twice.Increase(At(4), seconds(60)), 10 + 3 + 1 + 1);
  EXPECT_EQ(twice.resets(), 2u);
}

TEST(CounterWindowTest, BadSamplesAreIgnored) {
  CounterWindow w(seconds(60));
  w.Add(At(0), 10);
  w.Add(At(1), std::nan(""));
  w.Add(At(2), -5);
  w.Add(At(3), std::numeric_limits<double>::infinity());
  w.Add(At(4), 30);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_DOUBLE_EQ(w.Rate(At(4), seconds(60)), 5);
  EXPECT_EQ(w.resets(), 0u);
}

TEST(CounterWindowTest, SumRatesSkipsPodsWithoutARate) {
  CounterWindow a(seconds(60)), b(seconds(60)), c(seconds(60));
  a.Add(At(0), 0);
  a.Add(At(10), 50);  // 5/s
  b.Add(At(10), 7);   // new pod: one sample, no rate yet (not 0)
  c.Add(At(0), 100);
  c.Add(At(10), 20);  // restarted: 20 in 10 s -> 2/s
  std::vector<const CounterWindow*> pods = {&a, &b, &c};
  EXPECT_DOUBLE_EQ(SumRates(pods, At(10), seconds(60)), 7);
  std::vector<const CounterWindow*> only_new = {&b};
  EXPECT_TRUE(std::isnan(SumRates(only_new, At(10), seconds(60))));
  EXPECT_TRUE(std::isnan(SumRates({}, At(10), seconds(60))));
}

// A pod seen for part of the window counts by what it served in it: the total is the pods'
// increases over the longest span, not the sum of each pod's own rate.
TEST(CounterWindowTest, SumRatesCountsAPodThatJoinedLateByWhatItServed) {
  CounterWindow old_pod(seconds(60)), new_pod(seconds(60));
  for (int t = 0; t <= 60; t += 2) old_pod.Add(At(t), t < 58 ? 20.0 * t : 20.0 * 58 + 10.0 * (t - 58));
  new_pod.Add(At(58), 0);
  new_pod.Add(At(60), 20);  // 10/s for the last 2 s, the half the old pod no longer gets
  std::vector<const CounterWindow*> pods = {&old_pod, &new_pod};
  // Over the 58 s from the first sample in the window (t = 2): 1,140 + 20 requests, 20/s.
  EXPECT_NEAR(SumRates(pods, At(60), seconds(60)), 20, 1e-9);
  EXPECT_GT(old_pod.Rate(At(60), seconds(60)) + new_pod.Rate(At(60), seconds(60)), 28)
      << "the sum of the rates counts the new pod's share twice";
}

TEST(CounterWindowTest, SubSecondSamples) {
  CounterWindow w(seconds(10));
  for (int i = 0; i <= 10; ++i) w.Add(kT0 + milliseconds(100 * i), i * 2.0);  // 20 per second
  EXPECT_NEAR(w.Rate(kT0 + seconds(1), seconds(10)), 20, 1e-9);
}

}  // namespace
}  // namespace nimscaler::signals
