// Evaluation over a fake Bindings: the value rules of formula.h (missing pods, division by
// zero, NaN through min/max and comparisons, rounding), table-driven.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "scaler/formula/formula.h"
#include "tests/formula/test_signals.h"

namespace nimscaler::formula {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The engine's side of the seam, with canned values.
class FakeBindings : public Bindings {
 public:
  std::map<std::string, std::vector<double>, std::less<>> gauges;
  std::map<std::string, double, std::less<>> rates;
  std::map<std::pair<double, std::string>, double> quantiles;
  std::set<std::pair<double, std::string>> idle_quantiles;  // windows without observations
  double replicas = 0;
  double pods = 0;
  mutable int calls = 0;

  std::span<const double> Gauge(std::string_view signal) const override {
    ++calls;
    auto it = gauges.find(signal);
    if (it == gauges.end()) return {};
    return it->second;
  }
  double Rate(std::string_view signal) const override {
    ++calls;
    auto it = rates.find(signal);
    return it == rates.end() ? kNaN : it->second;
  }
  Windowed Quantile(double q, std::string_view signal) const override {
    ++calls;
    if (idle_quantiles.count({q, std::string(signal)})) return Windowed::Empty();
    auto it = quantiles.find({q, std::string(signal)});
    return Windowed::Of(it == quantiles.end() ? kNaN : it->second);
  }
  Line Trend(size_t slot) const override {
    auto it = lines.find(slot);
    return it == lines.end() ? Line{} : it->second;
  }
  double Replicas() const override { return replicas; }
  double Pods() const override { return pods; }
  std::map<size_t, Line> lines;  // by trend()/predict() slot
};

FakeBindings Snapshot() {
  FakeBindings b;
  b.gauges["waiting"] = {3, 5, kNaN};  // the third pod did not report
  b.gauges["kv_cache"] = {0.5, 0.7};
  b.gauges["running"] = {};  // no pods
  b.gauges["queue_depth"] = {kNaN, kNaN};
  b.rates["requests"] = 12.5;
  b.quantiles[{0.95, "ttft"}] = 3;
  b.quantiles[{0.5, "ttft"}] = 1;
  b.idle_quantiles.insert({0.95, "e2e"});  // pods answered, nobody sent a request
  b.replicas = 2;
  b.pods = 3;
  return b;
}

struct Row {
  const char* text;
  double want;  // NaN: the result must be NaN
};

const Row kRows[] = {
    {"1 + 2 * 3", 7},
    {"8 / 4 / 2", 1},
    {"1 - 2 - 3", -4},
    {"2s + 500ms", 2.5},
    {"pods - replicas", 1},
    {"-sum(waiting)", -8},  // negatives are returned as they are: clamping is policy
    {"max(3)", 3},
    // Aggregations skip pods without a value.
    {"sum(waiting)", 8},
    {"avg(waiting)", 4},
    {"count(waiting)", 2},
    {"max(waiting)", 5},
    {"min(waiting)", 3},
    {"avg(kv_cache)", 0.6},
    {"sum(kv_cache) / 0.8", 1.5},
    // No values: sum and count are 0, the others undefined.
    {"sum(running)", 0},
    {"count(running)", 0},
    {"avg(running)", kNaN},
    {"max(running)", kNaN},
    {"min(running)", kNaN},
    {"sum(queue_depth)", 0},
    {"avg(queue_depth)", kNaN},
    // Window functions come from Bindings as they are.
    {"rate(requests)", 12.5},
    {"rate(prompt_tokens)", kNaN},
    {"quantile(0.95, ttft)", 3},
    {"replicas * quantile(0.95, ttft) / 2", 3},
    // Scalar min/max skip NaN terms so one undefined target does not hide the others.
    {"max(sum(waiting) / 4, replicas * quantile(0.95, itl) / 1)", 2},
    {"min(quantile(0.95, itl), 7)", 7},
    {"max(quantile(0.95, itl), quantile(0.5, itl))", kNaN},
    {"max(avg(running), 1, 4, 2)", 4},
    {"min(4, avg(running), 1, 2)", 1},
    // Issue 13 item 1: a quantile over a window without requests is empty: no latency demand.
    // It is 0 as a result, skipped by min() and max(), 0 in + and -, empty through * and /.
    {"quantile(0.95, e2e)", 0},
    {"replicas * quantile(0.95, e2e) / 2", 0},
    {"max(sum(waiting) / 4, replicas * quantile(0.95, e2e) / 2)", 2},
    {"min(sum(waiting) / 4, replicas * quantile(0.95, e2e) / 2)", 2},
    {"min(quantile(0.95, e2e), quantile(0.95, itl))", 0},
    {"quantile(0.95, e2e) + 1", 1},
    {"1 - quantile(0.95, e2e)", 1},
    {"quantile(0.95, e2e) - quantile(0.95, e2e)", 0},
    {"-quantile(0.95, e2e)", 0},
    {"quantile(0.95, e2e) > 0", 0},
    {"quantile(0.95, e2e) == 0", 1},
    {"!quantile(0.95, e2e)", 1},
    {"quantile(0.95, e2e) ? 5 : 6", 6},
    {"ceil(quantile(0.95, e2e))", 0},
    {"clamp(quantile(0.95, e2e), 1, 10)", 1},
    {"1 / quantile(0.95, e2e)", kNaN},
    {"quantile(0.95, e2e) * quantile(0.95, itl)", kNaN},
    // Division by zero is NaN, never Inf.
    {"1 / 0", kNaN},
    {"0 / 0", kNaN},
    {"-1 / 0", kNaN},
    {"sum(waiting) / (replicas - 2)", kNaN},
    {"max(1 / 0, 3)", 3},
    {"1 / 0 + 1", kNaN},
    // Overflow is no answer either.
    {"1e308 * 10", kNaN},
    {"-1e308 * 10", kNaN},
    // Comparisons give 1 or 0; NaN compares false except with !=.
    {"replicas > 1", 1},
    {"replicas < 1", 0},
    {"replicas >= 2", 1},
    {"replicas <= 1", 0},
    {"pods == 3", 1},
    {"pods != 3", 0},
    {"avg(running) > 0", 0},
    {"avg(running) <= 0", 0},
    {"avg(running) == avg(running)", 0},
    {"avg(running) != 0", 1},
    // Logic: true is neither 0 nor NaN.
    {"1 && 0", 0},
    {"1 && 2", 1},
    {"0 || 0", 0},
    {"0 || -3", 1},
    {"!0", 1},
    {"!2", 0},
    {"avg(running) && 1", 0},
    {"avg(running) || 1", 1},
    {"!avg(running)", 1},
    {"sum(waiting) + sum(running) > 0", 1},  // the default activation expression
    // Conditionals.
    {"replicas > 1 ? 10 : 20", 10},
    {"replicas > 5 ? 10 : 20", 20},
    {"avg(running) ? 10 : 20", 20},
    {"replicas > 1 ? 1 / 0 : 5", kNaN},
    // Rounding and friends.
    {"ceil(1.2)", 2},
    {"ceil(-1.2)", -1},
    {"floor(1.8)", 1},
    {"floor(-1.2)", -2},
    {"round(2.5)", 3},
    {"round(-2.5)", -3},
    {"round(2.4)", 2},
    {"abs(-3)", 3},
    {"abs(avg(running))", kNaN},
    {"clamp(15, 1, 10)", 10},
    {"clamp(-5, 1, 10)", 1},
    {"clamp(5, 1, 10)", 5},
    {"clamp(avg(running), 1, 10)", kNaN},
    {"ceil(sum(waiting) / 3)", 3},
};

TEST(FormulaEvaluateTest, Table) {
  FakeBindings b = Snapshot();
  for (const Row& row : kRows) {
    auto program = Compile(row.text, testing::TestSignals());
    ASSERT_TRUE(program.ok()) << row.text << "\n" << program.status().message();
    double got = (*program)->Evaluate(b);
    if (std::isnan(row.want)) {
      EXPECT_TRUE(std::isnan(got)) << row.text << " = " << got;
    } else {
      EXPECT_DOUBLE_EQ(got, row.want) << row.text;
    }
  }
}

// Issue 13 item 2: trend() is the fitted slope, predict() the fitted value `horizon` ahead; both
// unknown (NaN, so max() falls back to the demand now) until the caller has a line.
TEST(FormulaEvaluateTest, TrendAndPredictReadTheFittedLine) {
  FakeBindings b = Snapshot();
  auto trend = Compile("trend(sum(waiting))", testing::TestSignals());
  auto predict = Compile("max(sum(waiting), predict(sum(waiting), 30s))", testing::TestSignals());
  ASSERT_TRUE(trend.ok() && predict.ok()) << predict.status().message();
  EXPECT_TRUE(std::isnan((*trend)->Evaluate(b)));
  EXPECT_EQ((*predict)->Evaluate(b), 8) << "no line yet: the demand now";
  ASSERT_EQ((*predict)->trend_count(), 1u);
  EXPECT_EQ((*predict)->EvaluateTrendInput(0, b), 8);
  b.lines[0] = {.slope = 2, .at_now = 10};
  EXPECT_EQ((*trend)->Evaluate(b), 2);
  b.lines[0] = {.slope = 0.5, .at_now = 9};
  EXPECT_DOUBLE_EQ((*predict)->Evaluate(b), 9 + 0.5 * 30);
  b.lines[0] = {.slope = -1, .at_now = 8};
  EXPECT_EQ((*predict)->Evaluate(b), 8) << "a falling trend never goes below the demand now";
  // Each call is a slot of its own, numbered left to right.
  auto two = Compile("trend(sum(kv_cache)) + trend(sum(waiting))", testing::TestSignals());
  ASSERT_TRUE(two.ok());
  ASSERT_EQ((*two)->trend_count(), 2u);
  EXPECT_DOUBLE_EQ((*two)->EvaluateTrendInput(0, b), 1.2);
  EXPECT_EQ((*two)->EvaluateTrendInput(1, b), 8);
  EXPECT_TRUE(std::isnan((*two)->EvaluateTrendInput(2, b)));
  // An input without requests in its window is 0 demand, like the formula's result.
  auto idle = Compile("predict(quantile(0.95, e2e), 1m)", testing::TestSignals());
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ((*idle)->EvaluateTrendInput(0, b), 0);
}

TEST(FormulaEvaluateTest, ResultIsFiniteOrNaN) {
  FakeBindings b = Snapshot();
  b.gauges["waiting"] = {std::numeric_limits<double>::infinity(), 1};
  auto program = Compile("sum(waiting)");
  ASSERT_TRUE(program.ok());
  EXPECT_TRUE(std::isnan((*program)->Evaluate(b)));
}

TEST(FormulaEvaluateTest, OnlyTheTakenBranchReadsBindings) {
  FakeBindings b = Snapshot();
  auto program = Compile("replicas > 1 ? sum(waiting) : rate(requests) + quantile(0.5, ttft)");
  ASSERT_TRUE(program.ok());
  EXPECT_EQ((*program)->Evaluate(b), 8);
  EXPECT_EQ(b.calls, 1);
}

TEST(FormulaEvaluateTest, FollowsTheBindings) {
  auto program = Compile("max(sum(kv_cache)/0.8, sum(waiting)/4)");
  ASSERT_TRUE(program.ok());
  FakeBindings b;
  b.replicas = 1;
  b.gauges["kv_cache"] = {0.4};
  b.gauges["waiting"] = {0};
  EXPECT_DOUBLE_EQ((*program)->Evaluate(b), 0.5);
  b.gauges["waiting"] = {40};  // a burst of queued requests
  EXPECT_DOUBLE_EQ((*program)->Evaluate(b), 10);
  b.gauges["kv_cache"] = {0.96, 0.96, 0.96};
  b.gauges["waiting"] = {0, 0, 0};
  EXPECT_DOUBLE_EQ((*program)->Evaluate(b), 3.6);
}

// A Program is immutable: many threads evaluate it at once (run under TSan/ASan in CI).
TEST(FormulaEvaluateTest, ConcurrentEvaluation) {
  auto program = Compile("max(sum(kv_cache)/0.8, sum(waiting)/4, replicas*quantile(0.95, ttft)/2)");
  ASSERT_TRUE(program.ok());
  const ProgramConstSharedPtr shared = *program;
  std::vector<std::thread> threads;
  std::vector<double> results(4 * 1000);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      FakeBindings b = Snapshot();
      b.replicas = t + 1;
      for (int i = 0; i < 1000; ++i) results[static_cast<size_t>(t * 1000 + i)] = shared->Evaluate(b);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    // max(1.2/0.8, 8/4, (t+1)*3/2)
    double want = std::max({1.5, 2.0, (t + 1) * 3.0 / 2});
    for (int i = 0; i < 1000; ++i) {
      ASSERT_DOUBLE_EQ(results[static_cast<size_t>(t * 1000 + i)], want);
    }
  }
}

}  // namespace
}  // namespace nimscaler::formula
