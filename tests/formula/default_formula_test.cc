// The formula built from per-replica targets (docs/formula.md "The formula").
#include <gtest/gtest.h>

#include <cmath>

#include "scaler/formula/formula.h"

namespace nimscaler::formula {
namespace {

TEST(DefaultFormulaTest, NoTargetsMeansKvCacheAndWaiting) {
  auto text = DefaultFormula({});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "max(sum(kv_cache)/0.8, sum(waiting)/4)");
}

TEST(DefaultFormulaTest, TermsInDocumentedOrder) {
  Targets t;
  t.per_replica["kv_cache"] = 0.7;
  t.per_replica["waiting"] = 4;
  t.per_replica["ttft"] = 2;
  auto text = DefaultFormula(t);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "max(sum(kv_cache)/0.7, sum(waiting)/4, replicas*quantile(0.95, ttft)/2)");

  Targets all;
  all.per_replica["kv_cache"] = 0.7;
  all.per_replica["waiting"] = 4;
  all.per_replica["running"] = 10;
  all.per_replica["ttft"] = 0.5;
  all.per_replica["itl"] = 0.05;
  all.per_replica["e2e"] = 30;
  all.per_replica["requests"] = 20;
  all.latency_quantile = 0.9;
  auto all_text = DefaultFormula(all);
  ASSERT_TRUE(all_text.ok());
  EXPECT_EQ(*all_text,
            "max(sum(kv_cache)/0.7, sum(waiting)/4, sum(running)/10, "
            "replicas*quantile(0.9, ttft)/0.5, replicas*quantile(0.9, itl)/0.05, "
            "replicas*quantile(0.9, e2e)/30, rate(requests)/20)");
}

TEST(DefaultFormulaTest, SingleTargetHasNoMax) {
  Targets t;
  t.per_replica["waiting"] = 4;
  EXPECT_EQ(*DefaultFormula(t), "sum(waiting)/4");
  Targets latency;
  latency.per_replica["itl"] = 0.1;
  EXPECT_EQ(*DefaultFormula(latency), "replicas*quantile(0.95, itl)/0.1");
  Targets rate;
  rate.per_replica["requests"] = 61;
  EXPECT_EQ(*DefaultFormula(rate), "rate(requests)/61");
}

TEST(DefaultFormulaTest, BadTargets) {
  struct Case {
    Targets targets;
    const char* error;
  };
  Targets zero_kv;
  zero_kv.per_replica["kv_cache"] = 0;
  Targets negative_waiting;
  negative_waiting.per_replica["waiting"] = -1;
  Targets nan_ttft;
  nan_ttft.per_replica["ttft"] = std::nan("");
  Targets q_zero;
  q_zero.per_replica["ttft"] = 1;
  q_zero.latency_quantile = 0;
  Targets q_big;
  q_big.latency_quantile = 1.5;
  const Case cases[] = {
      {zero_kv, "targetKvCache must be a number > 0, got 0"},
      {negative_waiting, "targetWaiting must be a number > 0, got -1"},
      {nan_ttft, "targetTtft must be a number > 0, got nan"},
      {Targets{.per_replica = {{"requests", -2}}}, "targetRequestRate must be a number > 0, got -2"},
      {q_zero, "latencyQuantile must be in (0, 1], got 0"},
      {q_big, "latencyQuantile must be in (0, 1], got 1.5"},
      {Targets{.per_replica = {{"queue_time", 1}}}, "'queue_time' has no per-replica target"},
      {Targets{.per_replica = {{"kv_cahce", 1}}}, "'kv_cahce' has no per-replica target"},
  };
  for (const Case& c : cases) {
    auto text = DefaultFormula(c.targets);
    ASSERT_FALSE(text.ok()) << c.error;
    EXPECT_EQ(text.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(text.status().message(), c.error);
  }
}

class OneSnapshot : public Bindings {
 public:
  std::span<const double> Gauge(std::string_view signal) const override {
    if (signal == "kv_cache") return kv_;
    if (signal == "waiting") return waiting_;
    return {};
  }
  double Rate(std::string_view signal) const override { return signal == "requests" ? 90 : 0; }
  Windowed Quantile(double q, std::string_view signal) const override {
    return Windowed::Of(q == 0.95 && signal == "ttft" ? 3.0 : std::nan(""));
  }
  double Replicas() const override { return 2; }
  double Pods() const override { return 2; }

 private:
  std::vector<double> kv_{0.9, 0.5};
  std::vector<double> waiting_{10, 6};
};

// Issue 13 item 2: with a startup time the default formula scales on the demand predicted that
// far ahead, never below the demand now. The reported value is the window's average of the
// formula, half a window behind a rising line, so levels are predicted startupTime + window/2
// ahead.
TEST(DefaultFormulaTest, StartupTimePredictsTheDemandThatFarAhead) {
  Targets t;
  t.startup_time = 150;
  auto text = DefaultFormula(t);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text,
            "max(max(sum(kv_cache)/0.8, sum(waiting)/4), predict(max(sum(kv_cache)/0.8, sum(waiting)/4), 180s))");
  auto program = Compile(*text);
  ASSERT_TRUE(program.ok()) << program.status().message();
  EXPECT_EQ((*program)->trend_count(), 1u);
  t.window_seconds = 10;
  EXPECT_EQ(*DefaultFormula(t),
            "max(max(sum(kv_cache)/0.8, sum(waiting)/4), predict(max(sum(kv_cache)/0.8, sum(waiting)/4), 155s))");
  t.startup_time = 0;
  EXPECT_FALSE(DefaultFormula(t).ok());
}

// A rate or a quantile is itself an average over the window, another half window behind: those
// terms are predicted apart, a whole window further than the startup time.
TEST(DefaultFormulaTest, WindowedTermsArePredictedAWindowFurther) {
  Targets t;
  t.per_replica = {{"kv_cache", 0.1}, {"requests", 61}};
  t.startup_time = 150;
  auto text = DefaultFormula(t);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text,
            "max(sum(kv_cache)/0.1, predict(sum(kv_cache)/0.1, 180s), rate(requests)/61, "
            "predict(rate(requests)/61, 210s))");
  auto program = Compile(*text);
  ASSERT_TRUE(program.ok()) << program.status().message();
  EXPECT_EQ((*program)->trend_count(), 2u);
  Targets latency;
  latency.per_replica = {{"ttft", 1}};
  latency.startup_time = 100;
  latency.window_seconds = 30;
  EXPECT_EQ(*DefaultFormula(latency),
            "max(replicas*quantile(0.95, ttft)/1, predict(replicas*quantile(0.95, ttft)/1, 130s))");
}

// The generated text compiles against the builtins and computes the documented maximum.
TEST(DefaultFormulaTest, CompilesAndEvaluates) {
  Targets t;
  t.per_replica["kv_cache"] = 0.7;
  t.per_replica["waiting"] = 4;
  t.per_replica["ttft"] = 2;
  auto text = DefaultFormula(t);
  ASSERT_TRUE(text.ok());
  auto program = Compile(*text);
  ASSERT_TRUE(program.ok()) << program.status().message();
  OneSnapshot b;
  // kv: 1.4/0.7 = 2; waiting: 16/4 = 4; ttft: 2*3/2 = 3.
  EXPECT_DOUBLE_EQ((*program)->Evaluate(b), 4);

  auto defaults = Compile(*DefaultFormula({}));
  ASSERT_TRUE(defaults.ok());
  // kv: 1.4/0.8 = 1.75; waiting: 16/4 = 4.
  EXPECT_DOUBLE_EQ((*defaults)->Evaluate(b), 4);

  Targets rate;
  rate.per_replica["requests"] = 20;
  rate.per_replica["waiting"] = 8;
  auto by_rate = Compile(*DefaultFormula(rate));
  ASSERT_TRUE(by_rate.ok()) << by_rate.status().message();
  // waiting: 16/8 = 2; requests: 90 per second / 20 = 4.5.
  EXPECT_DOUBLE_EQ((*by_rate)->Evaluate(b), 4.5);
}

}  // namespace
}  // namespace nimscaler::formula
