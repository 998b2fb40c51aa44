// Our window quantile against a real Prometheus server answering
// histogram_quantile(q, sum(rate(x_bucket[W])) by (le)) over the same samples: two loopback
// pods whose histograms change over time, scraped by Prometheus; the samples Prometheus
// stored are fed to our HistogramWindows and both answers are compared.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <thread>

#include "scaler/signals/window/window.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/prometheus_server.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;

const std::vector<double> kBounds = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

// A pod's histogram: cumulative counts per bound plus +Inf.
struct PodHistogram {
  std::vector<double> counts = std::vector<double>(kBounds.size() + 1, 0);
  void Observe(double v, double n) {
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (v <= kBounds[i]) counts[i] += n;
    }
    counts.back() += n;
  }
  std::string Text() const {
    std::string out = "# HELP llm_ttft_seconds Time to first token.\n# TYPE llm_ttft_seconds histogram\n";
    for (size_t i = 0; i < kBounds.size(); ++i) {
      out += "llm_ttft_seconds_bucket{le=\"" + FormatBound(kBounds[i]) + "\"} " + std::to_string(counts[i]) + "\n";
    }
    out += "llm_ttft_seconds_bucket{le=\"+Inf\"} " + std::to_string(counts.back()) + "\n";
    out += "llm_ttft_seconds_count " + std::to_string(counts.back()) + "\n";
    return out;
  }
  static std::string FormatBound(double b) {
    std::string s = std::to_string(b);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
    return s;
  }
};

double BucketWidthAround(double v) {
  double lower = 0;
  for (double b : kBounds) {
    if (v <= b) return b - lower;
    lower = b;
  }
  return 0;
}

TEST(QuantileVsPrometheus, AgreesWithinOneBucketsInterpolation) {
  if (!testing::PrometheusServer::Available()) GTEST_SKIP() << "needs Debian's prometheus package";
  PodHistogram ha, hb;
  testing::FakePod a(ha.Text(), "/metrics"), b(hb.Text(), "/metrics");
  auto hostport = [](const testing::FakePod& p) {
    std::string u = p.url().substr(7);
    return u.substr(0, u.find('/'));
  };
  testing::PrometheusServer prom({hostport(a), hostport(b)}, "/metrics", "1s");

  // Load that shifts over time: pod a mostly fast then slower; pod b slow with a fast tail.
  // Bounded: 40 steps of 300 ms.
  for (int step = 0; step < 40; ++step) {
    double shift = step < 20 ? 0 : 1;
    ha.Observe(0.07 + 0.3 * shift, 3);
    ha.Observe(0.2 + shift, 1);
    hb.Observe(0.4 + shift, 2);
    hb.Observe(1.7, 1);
    if (step % 7 == 0) hb.Observe(4, 1);
    a.SetBody(ha.Text());
    b.SetBody(hb.Text());
    std::this_thread::sleep_for(300ms);
  }
  ASSERT_TRUE(prom.WaitForData("llm_ttft_seconds_bucket", 10s));

  double t = prom.Query("time()")["result"][1].is_string()
                 ? std::stod(prom.Query("time()")["result"][1].get<std::string>())
                 : 0;
  ASSERT_GT(t, 0);
  t -= 0.5;  // a moment Prometheus has certainly scraped up to
  const std::string w = "8s";
  // The samples Prometheus holds for the window, per pod and time.
  auto matrix = prom.Query("llm_ttft_seconds_bucket[" + w + "]", t)["result"];
  ASSERT_FALSE(matrix.empty());
  std::map<std::string, std::map<int64_t, std::vector<signals::Bucket>>> by_pod;
  for (const auto& series : matrix) {
    std::string instance = series["metric"]["instance"];
    std::string le = series["metric"]["le"];
    double bound = le == "+Inf" ? INFINITY : std::stod(le);
    for (const auto& v : series["values"]) {
      auto ms = static_cast<int64_t>(std::llround(v[0].get<double>() * 1000));
      by_pod[instance][ms].push_back({bound, std::stod(v[1].get<std::string>())});
    }
  }
  ASSERT_EQ(by_pod.size(), 2u);
  auto to_time = [](double seconds) {
    return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)));
  };
  std::vector<signals::HistogramWindow> windows;
  windows.reserve(2);
  for (auto& [instance, samples] : by_pod) {
    windows.emplace_back(std::chrono::seconds(60));
    for (auto& [ms, buckets] : samples) {
      std::sort(buckets.begin(), buckets.end(), [](auto& x, auto& y) { return x.upper_bound < y.upper_bound; });
      windows.back().Add(to_time(static_cast<double>(ms) / 1000), buckets);
    }
  }
  std::vector<const signals::HistogramWindow*> ptrs{&windows[0], &windows[1]};

  for (double q : {0.5, 0.9, 0.95, 0.99}) {
    SCOPED_TRACE("q=" + std::to_string(q));
    auto res = prom.Query(
        "histogram_quantile(" + std::to_string(q) + ", sum(rate(llm_ttft_seconds_bucket[" + w + "])) by (le))",
        t)["result"];
    ASSERT_EQ(res.size(), 1u);
    double theirs = std::stod(res[0]["value"][1].get<std::string>());
    // Prometheus's range is [t-8s, t]; ours is (t-8s, t]: use the same inclusive start.
    double ours = signals::WindowQuantile(q, ptrs, to_time(t), std::chrono::milliseconds(8001)).value;
    ASSERT_TRUE(std::isfinite(theirs));
    ASSERT_TRUE(std::isfinite(ours));
    std::cout << "q=" << q << " ours=" << ours << " prometheus=" << theirs << "\n";
    EXPECT_NEAR(ours, theirs, BucketWidthAround(theirs)) << "ours " << ours << " prometheus " << theirs;
  }
}

}  // namespace
}  // namespace nimscaler
