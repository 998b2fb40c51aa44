// histogram_quantile() against answers computed by hand with PromQL's rules, and window
// quantiles from bucket increases of several pods (with a restart).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "scaler/signals/window/window.h"
#include "tests/signals/window/test_time.h"

namespace nimscaler::signals {
namespace {

using std::chrono::seconds;

constexpr double kInf = std::numeric_limits<double>::infinity();

// 10 observations <= 0.1, 20 in (0.1, 0.5], 10 in (0.5, 1], none above.
std::vector<Bucket> Reference() { return {{0.1, 10}, {0.5, 30}, {1, 40}, {kInf, 40}}; }

TEST(HistogramQuantileTest, LinearInterpolationWithinTheBucket) {
  // rank 20 -> bucket (0.1, 0.5] holding ranks 10..30: 0.1 + 0.4 * 10/20.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, Reference()), 0.3);
  // rank 38 -> bucket (0.5, 1] holding 30..40: 0.5 + 0.5 * 8/10.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.95, Reference()), 0.9);
  // rank 10 -> the lowest bucket, which starts at 0: 0 + 0.1 * 10/10.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.25, Reference()), 0.1);
  // rank 4 -> 0 + 0.1 * 4/10.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.1, Reference()), 0.04);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0, Reference()), 0);
  EXPECT_DOUBLE_EQ(HistogramQuantile(1, Reference()), 1);
}

TEST(HistogramQuantileTest, RankInTheInfBucketGivesTheLargestFiniteBound) {
  std::vector<Bucket> b = {{0.1, 10}, {0.5, 30}, {1, 40}, {kInf, 50}};
  // rank 47.5 is above 40: the +Inf bucket.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.95, b), 1);
  // rank 40 is still in (0.5, 1].
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.8, b), 1);
  // rank 25 -> 0.1 + 0.4 * 15/20.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, b), 0.4);
}

TEST(HistogramQuantileTest, OutOfRangeLevels) {
  EXPECT_EQ(HistogramQuantile(-0.1, Reference()), -kInf);
  EXPECT_EQ(HistogramQuantile(1.1, Reference()), kInf);
  EXPECT_TRUE(std::isnan(HistogramQuantile(std::nan(""), Reference())));
}

TEST(HistogramQuantileTest, NaNWithoutObservationsOrWithoutInfBucket) {
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, {{0.1, 0}, {1, 0}, {kInf, 0}})));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, {{0.1, 10}, {1, 20}})));  // no +Inf
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, {{kInf, 20}})));          // one bucket
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, {})));
}

TEST(HistogramQuantileTest, LowestBucketStartsAtZeroOnlyForPositiveBounds) {
  // Lowest bound <= 0: a rank inside it is answered with the bound itself.
  std::vector<Bucket> negative = {{-1, 5}, {0, 10}, {kInf, 10}};
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.25, negative), -1);
  // rank 7.5 in (-1, 0] holding 5..10: -1 + 1 * 2.5/5.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.75, negative), -0.5);
  std::vector<Bucket> zero = {{0, 5}, {1, 10}, {kInf, 10}};
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.2, zero), 0);
  // rank 7.5 in (0, 1] holding 5..10.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.75, zero), 0.5);
}

TEST(HistogramQuantileTest, MonotonicityFix) {
  // The 0.5 bucket was scraped before an observation landed in 0.1: 8 < 10 is raised to 10.
  std::vector<Bucket> b = {{0.1, 10}, {0.5, 8}, {1, 40}, {kInf, 40}};
  // rank 20 -> (0.5, 1] holding 10..40: 0.5 + 0.5 * 10/30.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, b), 0.5 + 0.5 * 10.0 / 30.0);
}

TEST(HistogramQuantileTest, UnsortedInputAndEqualBoundsAreMerged) {
  std::vector<Bucket> b = {{kInf, 20}, {1, 20}, {0.1, 5}, {0.5, 15}, {kInf, 20}, {0.1, 5}, {0.5, 15}, {1, 20}};
  // Two pods each holding half of Reference(): merged by bound, they are Reference().
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, b), 0.3);
}

TEST(MergeBucketsTest, SumsByUpperBound) {
  std::vector<Bucket> total;
  MergeBuckets(&total, std::vector<Bucket>{{0.5, 2}, {kInf, 3}});
  MergeBuckets(&total, std::vector<Bucket>{{0.1, 1}, {0.5, 1}, {kInf, 4}});
  EXPECT_EQ(total, (std::vector<Bucket>{{0.1, 1}, {0.5, 3}, {kInf, 7}}));
}

// Issue 19 item 10: pods whose bounds interleave are merged in one linear pass and correctly.
TEST(MergeBucketsTest, InterleavedBoundsMergeInOrder) {
  std::vector<Bucket> total;
  std::vector<Bucket> even, odd;
  for (int i = 0; i < 2000; ++i) (i % 2 ? odd : even).push_back({static_cast<double>(i), 1});
  MergeBuckets(&total, even);
  MergeBuckets(&total, odd);
  MergeBuckets(&total, std::vector<Bucket>{{5, 2}, {3, 1}});  // unsorted input is accepted
  ASSERT_EQ(total.size(), 2000u);
  for (size_t i = 0; i < total.size(); ++i) {
    EXPECT_EQ(total[i].upper_bound, static_cast<double>(i));
    EXPECT_EQ(total[i].count, i == 5 ? 3 : i == 3 ? 2 : 1) << i;
  }
}

// ---- Windows --------------------------------------------------------------------------------

TEST(HistogramWindowTest, IncreaseAcrossSnapshots) {
  HistogramWindow w(seconds(60));
  w.Add(At(0), {{0.1, 100}, {1, 200}, {kInf, 210}});
  EXPECT_TRUE(w.Increase(At(0), seconds(60)).empty());  // one snapshot: nothing
  w.Add(At(2), {{kInf, 215}, {1, 204}, {0.1, 101}});    // unsorted input is fine
  w.Add(At(4), {{0.1, 103}, {1, 206}, {kInf, 220}});
  EXPECT_EQ(w.Increase(At(4), seconds(60)), (std::vector<Bucket>{{0.1, 3}, {1, 6}, {kInf, 10}}));
  // (2, 4] holds only the last snapshot... and (1, 4] the last two.
  EXPECT_TRUE(w.Increase(At(4), seconds(2)).empty());
  EXPECT_EQ(w.Increase(At(4), seconds(3)), (std::vector<Bucket>{{0.1, 2}, {1, 2}, {kInf, 5}}));
}

TEST(HistogramWindowTest, ResetAndLayoutChange) {
  HistogramWindow w(seconds(60));
  w.Add(At(0), {{0.1, 100}, {1, 200}, {kInf, 210}});
  w.Add(At(2), {{0.1, 110}, {1, 220}, {kInf, 230}});  // +10, +20, +20
  w.Add(At(4), {{0.1, 1}, {1, 2}, {kInf, 3}});        // restart: the snapshot is the increase
  w.Add(At(6), {{0.1, 2}, {1, 4}, {kInf, 6}});        // +1, +2, +3
  EXPECT_EQ(w.Increase(At(6), seconds(60)), (std::vector<Bucket>{{0.1, 12}, {1, 24}, {kInf, 26}}));

  HistogramWindow relayout(seconds(60));
  relayout.Add(At(0), {{1, 5}, {kInf, 5}});
  relayout.Add(At(2), {{0.5, 1}, {1, 2}, {kInf, 2}});  // new buckets after an upgrade
  EXPECT_EQ(relayout.Increase(At(2), seconds(60)), (std::vector<Bucket>{{0.5, 1}, {1, 2}, {kInf, 2}}));
}

TEST(HistogramWindowTest, BadSnapshotsAreIgnored) {
  HistogramWindow w(seconds(60));
  w.Add(At(0), {});
  w.Add(At(1), {{0.1, std::nan("")}, {kInf, 1}});
  EXPECT_EQ(w.size(), 0u);
}

// PromQL: histogram_quantile(q, sum(rate(x_bucket[w])) by (le)) over two pods.
TEST(WindowQuantileTest, SumsBucketIncreasesOfAllPods) {
  HistogramWindow a(seconds(60)), b(seconds(60)), fresh(seconds(60));
  a.Add(At(0), {{0.1, 100}, {0.5, 200}, {1, 300}, {kInf, 300}});
  a.Add(At(10), {{0.1, 110}, {0.5, 220}, {1, 330}, {kInf, 330}});  // +10 +20 +30 +30
  b.Add(At(0), {{0.1, 50}, {0.5, 50}, {1, 60}, {kInf, 70}});
  b.Add(At(10), {{0.1, 50}, {0.5, 60}, {1, 70}, {kInf, 80}});              // +0 +10 +10 +10
  fresh.Add(At(10), {{0.1, 1000}, {0.5, 1000}, {1, 1000}, {kInf, 1000}});  // one snapshot
  std::vector<const HistogramWindow*> pods = {&a, &b, &fresh};
  // Sum: 10, 30, 40, 40 as in Reference().
  EXPECT_DOUBLE_EQ(WindowQuantile(0.5, pods, At(10), seconds(60)).value, 0.3);
  EXPECT_DOUBLE_EQ(WindowQuantile(0.95, pods, At(10), seconds(60)).value, 0.9);
}

TEST(WindowQuantileTest, RestartedPodCountsItsNewObservations) {
  HistogramWindow a(seconds(60)), b(seconds(60));
  a.Add(At(0), {{0.1, 100}, {0.5, 200}, {1, 300}, {kInf, 300}});
  a.Add(At(10), {{0.1, 110}, {0.5, 220}, {1, 330}, {kInf, 330}});
  b.Add(At(0), {{0.1, 500}, {0.5, 900}, {1, 950}, {kInf, 990}});
  b.Add(At(10), {{0.1, 0}, {0.5, 10}, {1, 10}, {kInf, 10}});  // restarted
  std::vector<const HistogramWindow*> pods = {&a, &b};
  EXPECT_DOUBLE_EQ(WindowQuantile(0.5, pods, At(10), seconds(60)).value, 0.3);
}

// Issue 13 item 1: "no requests in the window" is told apart from "not enough history", so a
// latency target reads an idle model as no demand rather than as missing data.
TEST(WindowQuantileTest, UnknownWithoutTwoSnapshotsAndNoObservationsWhenIdle) {
  HistogramWindow a(seconds(60)), idle(seconds(60));
  a.Add(At(0), {{0.1, 1}, {kInf, 1}});
  std::vector<const HistogramWindow*> one = {&a};
  WindowedQuantile first = WindowQuantile(0.5, one, At(0), seconds(60));
  EXPECT_TRUE(std::isnan(first.value));
  EXPECT_FALSE(first.no_observations) << "one snapshot says nothing about the window";
  idle.Add(At(0), {{0.1, 7}, {kInf, 9}});
  idle.Add(At(10), {{0.1, 7}, {kInf, 9}});  // no requests in the window
  std::vector<const HistogramWindow*> quiet = {&idle};
  WindowedQuantile none = WindowQuantile(0.5, quiet, At(10), seconds(60));
  EXPECT_TRUE(std::isnan(none.value));
  EXPECT_TRUE(none.no_observations);
  // One busy pod among idle ones: a value.
  HistogramWindow busy(seconds(60));
  busy.Add(At(0), {{0.1, 0}, {kInf, 0}});
  busy.Add(At(10), {{0.1, 4}, {kInf, 4}});
  std::vector<const HistogramWindow*> mixed = {&idle, &busy};
  WindowedQuantile some = WindowQuantile(0.5, mixed, At(10), seconds(60));
  EXPECT_DOUBLE_EQ(some.value, 0.05);
  EXPECT_FALSE(some.no_observations);
  // No pod at all, or buckets without +Inf: unknown, not idle.
  EXPECT_FALSE(WindowQuantile(0.5, {}, At(10), seconds(60)).no_observations);
  HistogramWindow broken(seconds(60));
  broken.Add(At(0), {{0.1, 0}, {0.5, 0}});
  broken.Add(At(10), {{0.1, 0}, {0.5, 0}});
  std::vector<const HistogramWindow*> no_inf = {&broken};
  EXPECT_FALSE(WindowQuantile(0.5, no_inf, At(10), seconds(60)).no_observations);
}

}  // namespace
}  // namespace nimscaler::signals
