// The fault and value policies of Evaluate(), one test per policy (docs/formula.md "The decision" and
// docs/operations.md "What KEDA gets, and when").
#include "scaler/engine/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace nimscaler::engine {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

trigger::ScalerSpecConstPtr Spec(config::Metadata extra = {}) {
  config::Metadata md{{"endpoints", "http://a:1/m,http://b:1/m"},
                      {"engine", "nim"},
                      {"targetKvCache", "0.1"},
                      {"scrapeInterval", "1s"}};
  for (auto& [k, v] : extra) md[k] = v;
  auto s = trigger::BuildScalerSpec("nim", "llama", md, {.allow_static_endpoints = true});
  EXPECT_TRUE(s.ok()) << s.status().message();
  return *s;
}

signals::PodReading Pod(const std::string& url, double kv, double waiting, double running) {
  signals::PodReading p;
  p.endpoint = url;
  p.answered = true;
  p.gauges = {{"kv_cache", kv}, {"waiting", waiting}, {"running", running}};
  return p;
}

signals::SnapshotConstPtr Snap(std::vector<signals::PodReading> pods) {
  auto s = std::make_shared<signals::Snapshot>();
  s->pods = std::move(pods);
  return s;
}

// targetRequestRate 10 alone, over a 10 s window scraped every second.
trigger::ScalerSpecConstPtr RequestRateSpec() {
  auto s = trigger::BuildScalerSpec("nim", "llama",
                                    {{"endpoints", "http://a:1/m,http://b:1/m"},
                                     {"engine", "nim"},
                                     {"targetRequestRate", "10"},
                                     {"scrapeInterval", "1s"},
                                     {"window", "10s"}},
                                    {.allow_static_endpoints = true});
  EXPECT_TRUE(s.ok()) << s.status().message();
  return *s;
}

const TimePoint kNow = TimePoint(100s);

// One evaluation of one snapshot by a fresh Evaluator (no history).
Evaluation Evaluate(const trigger::ScalerSpecConstPtr& spec, signals::SnapshotConstPtr snap, TimePoint now = kNow) {
  Evaluator e(spec);
  if (snap) std::const_pointer_cast<signals::Snapshot>(snap)->taken_at = now;
  return e.Update(snap, now);
}

TEST(Evaluate, PendingBeforeFirstCollectionIsUnavailable) {
  auto ev = Evaluate(Spec(), nullptr);
  EXPECT_EQ(ev.status.code(), Code::kUnavailable);
  EXPECT_THAT(ev.status.message(), HasSubstr("first collection"));
}

// Issue 15 item 2: `engine: auto` on pods whose metrics it cannot recognise answered UNAVAILABLE
// "no ready pod answered" from the first cycle on, though every pod answered: KEDA's fallback
// then hid a configuration problem. Every pod unreadable is FAILED_PRECONDITION with the cause;
// one pod that did not answer at all keeps it UNAVAILABLE.
TEST(Evaluate, PodsAnsweringWithUnreadableMetricsAreAConfigurationProblem) {
  auto unreadable = [](const std::string& url) {
    signals::PodReading p;
    p.endpoint = url;
    p.error = "engine: auto could not recognise the metrics";
    p.unreadable_metrics = true;
    return p;
  };
  auto ev = Evaluate(Spec(), Snap({unreadable("a"), unreadable("b")}));
  EXPECT_EQ(ev.status.code(), Code::kFailedPrecondition);
  EXPECT_THAT(ev.status.message(), HasSubstr("every ready pod answers, but with metrics this trigger cannot read"));
  EXPECT_THAT(ev.status.message(), HasSubstr("engine: auto could not recognise the metrics"));
  signals::PodReading down;
  down.endpoint = "b";
  down.error = "connection refused";
  auto mixed = Evaluate(Spec(), Snap({unreadable("a"), down}));
  EXPECT_EQ(mixed.status.code(), Code::kUnavailable);
  EXPECT_THAT(mixed.status.message(), HasSubstr("no ready pod answered"));
}

TEST(Evaluate, SumOverPodsDividedByTarget) {
  auto ev = Evaluate(Spec(), Snap({Pod("a", 0.208, 0, 1), Pod("b", 0.1, 2, 0)}));
  ASSERT_TRUE(ev.status.ok());
  EXPECT_DOUBLE_EQ(ev.value, 3.08);
  EXPECT_TRUE(ev.active);
  EXPECT_DOUBLE_EQ(ev.signals.at("waiting"), 2);
}

TEST(Evaluate, MaxOverTargets) {
  auto spec = Spec({{"targetWaiting", "4"}});
  auto ev = Evaluate(spec, Snap({Pod("a", 0.05, 20, 1)}));
  ASSERT_TRUE(ev.status.ok());
  EXPECT_DOUBLE_EQ(ev.value, 5);  // 20 waiting / 4 beats 0.05 / 0.1
}

TEST(Evaluate, IdlePodsAreInactiveWithZeroValue) {
  auto ev = Evaluate(Spec(), Snap({Pod("a", 0, 0, 0)}));
  ASSERT_TRUE(ev.status.ok());
  EXPECT_EQ(ev.value, 0);
  EXPECT_FALSE(ev.active);
}

// Issue 13 item 1: a latency-only target reads a window without requests as no demand. An
// idle model answers 0 and inactive (never UNAVAILABLE once a window has two scrapes), load
// raises the value, and after the load stops the value falls back to 0 once the window has
// passed, without being held.
TEST(Evaluate, LatencyOnlyTargetReadsAnIdleWindowAsNoDemand) {
  auto spec = trigger::BuildScalerSpec("nim", "llama",
                                       {{"endpoints", "http://a:1/m"},
                                        {"engine", "nim"},
                                        {"targetTtft", "2s"},
                                        {"scrapeInterval", "1s"},
                                        {"window", "10s"},
                                        {"panicWindow", "1s"}},
                                       {.allow_static_endpoints = true});
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  Evaluator e(*spec);
  double served = 0;  // observations so far, all in the (2s, 4s] bucket
  auto at = [&](int second, bool busy) {
    signals::PodReading p = Pod("http://a:1/m", 0, 0, busy ? 3 : 0);
    if (busy) served += 10;
    p.histograms["ttft"] = {{0.5, 0}, {2, 0}, {4, served}, {INFINITY, served}};
    auto snap = Snap({p});
    std::const_pointer_cast<signals::Snapshot>(snap)->taken_at = TimePoint(std::chrono::seconds(second));
    return e.Update(snap, TimePoint(std::chrono::seconds(second)));
  };
  at(0, false);  // one scrape: no window yet
  for (int t = 1; t <= 5; ++t) {
    auto idle = at(t, false);
    ASSERT_TRUE(idle.status.ok()) << "t=" << t << ": " << idle.status.message();
    EXPECT_EQ(idle.value, 0) << "t=" << t;
    EXPECT_FALSE(idle.active);
    EXPECT_FALSE(idle.held);
  }
  double peak = 0;
  for (int t = 6; t <= 15; ++t) {
    auto busy = at(t, true);
    ASSERT_TRUE(busy.status.ok()) << busy.status.message();
    EXPECT_TRUE(busy.active);
    peak = std::max(peak, busy.value);
  }
  EXPECT_GT(peak, 1.5) << "p95 near 3.9 s against a 2 s target on one replica";
  Evaluation last;
  for (int t = 16; t <= 40; ++t) {
    last = at(t, false);
    ASSERT_TRUE(last.status.ok()) << "t=" << t << ": " << last.status.message();
  }
  EXPECT_EQ(last.value, 0) << "the window has passed: no latency demand";
  EXPECT_FALSE(last.held);
  EXPECT_FALSE(last.active);
}

// Issue 13 item 2: with startupTime the default formula scales on the demand predicted one
// startup time ahead from the trend over the window, and never below the demand now.
TEST(Evaluate, StartupTimeScalesOnThePredictedDemandNeverBelowTheCurrentOne) {
  auto build = [](bool with_startup) {
    config::Metadata md{{"endpoints", "http://a:1/m"},
                        {"engine", "nim"},
                        {"targetWaiting", "4"},
                        {"scrapeInterval", "1s"},
                        {"window", "10s"}};
    if (with_startup) md["startupTime"] = "10s";
    auto spec = trigger::BuildScalerSpec("nim", "llama", md, {.allow_static_endpoints = true});
    EXPECT_TRUE(spec.ok()) << spec.status().message();
    return *spec;
  };
  Evaluator predicted(build(true)), reactive(build(false));
  auto feed = [](Evaluator& e, int second, double waiting) {
    auto snap = Snap({Pod("http://a:1/m", 0, waiting, 1)});
    std::const_pointer_cast<signals::Snapshot>(snap)->taken_at = TimePoint(std::chrono::seconds(second));
    return e.Update(snap, TimePoint(std::chrono::seconds(second)));
  };
  // A ramp: 4 more waiting requests (one replica's worth) every second.
  Evaluation p, r;
  for (int t = 0; t <= 10; ++t) {
    p = feed(predicted, t, 4.0 * t);
    r = feed(reactive, t, 4.0 * t);
    ASSERT_TRUE(p.status.ok() && r.status.ok()) << p.status.message();
    if (t < 5) {
      EXPECT_EQ(p.raw, r.raw) << "t=" << t << ": less than half the window seen, no prediction yet";
    }
  }
  EXPECT_DOUBLE_EQ(r.raw, 10) << "40 waiting / 4 now";
  EXPECT_NEAR(p.raw, 25, 1e-9) << "the line through the ramp, 10 s + half the 10 s window ahead";
  EXPECT_GT(p.value, r.value);
  // The ramp falls: the prediction would be below the demand now, which wins.
  for (int t = 11; t <= 20; ++t) p = feed(predicted, t, 4.0 * (20 - t));
  EXPECT_NEAR(p.raw, 0, 1e-9);
  p = feed(predicted, 21, 8);  // a jump up after the fall: the line still points down
  EXPECT_DOUBLE_EQ(p.raw, 2);
}

// A scale-up or a scale-down is not a change in demand. A pod that joins serves part of the
// load from then on: its rate over the 1 s it was seen, added to the others' 10 s averages, read
// 20 requests/s as 29 (the fleet's rate jumped with every scale-up, and predict() extended the
// jump). A pod that leaves served its share until it left: dropping its history read 20/s as 10.
TEST(Evaluate, TheRequestRateHoldsStillWhilePodsJoinAndLeave) {
  Evaluator e(RequestRateSpec());
  auto served_a = [](int t) { return t <= 10 ? 20.0 * t : t <= 20 ? 200 + 10.0 * (t - 10) : 300 + 20.0 * (t - 20); };
  for (int t = 0; t <= 30; ++t) {
    std::vector<signals::PodReading> pods;
    pods.push_back(Pod("http://a:1/m", 0, 0, 5));
    pods.back().counters["requests"] = served_a(t);
    if (t >= 10 && t < 20) {  // b takes half of the 20 requests/s for ten seconds
      pods.push_back(Pod("http://b:1/m", 0, 0, 5));
      pods.back().counters["requests"] = 10.0 * (t - 10);
    }
    auto snap = Snap(std::move(pods));
    std::const_pointer_cast<signals::Snapshot>(snap)->taken_at = TimePoint(std::chrono::seconds(t));
    Evaluation ev = e.Update(snap, TimePoint(std::chrono::seconds(t)));
    if (t == 0) continue;  // one scrape: no rate yet
    ASSERT_TRUE(ev.status.ok()) << "t=" << t << ": " << ev.status.message();
    // Within 10 %: b's last second before it left is never scraped.
    EXPECT_NEAR(ev.raw, 2, 0.2) << "t=" << t << ": 20 requests/s against 10 per replica";
  }
}

// Discovery should not list one endpoint twice (it dedupes), but the evaluator must not trust it:
// the second reading of an endpoint found its windows already taken by the first and crashed on
// the next cycle. A repeated endpoint counts once.
TEST(Evaluate, AnEndpointListedTwiceCountsOnceAndNeverCrashes) {
  Evaluator e(RequestRateSpec());
  Evaluation ev;
  for (int t = 0; t <= 5; ++t) {
    std::vector<signals::PodReading> pods;
    for (int copy = 0; copy < 2; ++copy) {
      pods.push_back(Pod("http://a:1/m", 0, 0, 5));
      pods.back().counters["requests"] = 20.0 * t;
    }
    auto snap = Snap(std::move(pods));
    std::const_pointer_cast<signals::Snapshot>(snap)->taken_at = TimePoint(std::chrono::seconds(t));
    ev = e.Update(snap, TimePoint(std::chrono::seconds(t)));
  }
  ASSERT_TRUE(ev.status.ok()) << ev.status.message();
  EXPECT_NEAR(ev.raw, 2, 1e-9) << "20 requests/s once, not twice";
}

TEST(Evaluate, TinyDemandStillActivates) {
  // A value far below KEDA's milli resolution must not round activation away.
  auto ev = Evaluate(Spec(), Snap({Pod("a", 0.00001, 0, 1)}));
  EXPECT_TRUE(ev.active);
  EXPECT_GT(ev.value, 0);
}

TEST(Evaluate, NegativeOrNanSignalsNeverEscape) {
  auto neg = Evaluate(Spec(), Snap({Pod("a", -5, 0, 0)}));
  ASSERT_TRUE(neg.status.ok());
  EXPECT_EQ(neg.value, 0);
  auto pod = Pod("a", std::nan(""), 1, 0);
  auto nan = Evaluate(Spec(), Snap({pod, Pod("b", 0.2, 0, 0)}));
  ASSERT_TRUE(nan.status.ok());
  EXPECT_DOUBLE_EQ(nan.value, 2);  // the NaN pod contributes nothing, not NaN
}

TEST(Evaluate, MissingPodNeverLowersTheAnswer) {
  auto spec = Spec({{"window", "2s"}, {"panicWindow", "1s"}});
  Evaluator e(spec);
  auto at = [](signals::SnapshotConstPtr s, TimePoint t) {
    std::const_pointer_cast<signals::Snapshot>(s)->taken_at = t;
    return s;
  };
  auto first = e.Update(at(Snap({Pod("a", 0.2, 0, 1), Pod("b", 0.2, 0, 1)}), kNow), kNow);
  ASSERT_DOUBLE_EQ(first.value, 4);
  signals::PodReading dead;
  dead.endpoint = "b";
  dead.error = "connection refused";
  // Well past the stable window, so only the live pod's value would remain without the rule.
  auto second = e.Update(at(Snap({Pod("a", 0.1, 0, 1), dead}), kNow + 10s), kNow + 10s);
  ASSERT_TRUE(second.status.ok());
  EXPECT_DOUBLE_EQ(second.value, 4);  // held, although the one live pod alone says 1
  EXPECT_TRUE(second.held);
  // Rising is always allowed.
  auto third = e.Update(at(Snap({Pod("a", 0.9, 0, 1), dead}), kNow + 20s), kNow + 20s);
  EXPECT_DOUBLE_EQ(third.value, 9);
  // When every pod answers again, the value may fall.
  auto fourth = e.Update(at(Snap({Pod("a", 0.1, 0, 1), Pod("b", 0.1, 0, 1)}), kNow + 30s), kNow + 30s);
  EXPECT_DOUBLE_EQ(fourth.value, 2);
  EXPECT_FALSE(fourth.held);
}

// Issue 19 item 12: every pod down (UNAVAILABLE) and then the first pod back while the other is
// still missing: the answer must not fall below the last one given before the gap.
TEST(Evaluate, FloorHoldsAcrossCyclesWithNoAnswer) {
  auto spec = Spec({{"window", "2s"}, {"panicWindow", "1s"}});
  Evaluator e(spec);
  auto at = [](signals::SnapshotConstPtr s, TimePoint t) {
    std::const_pointer_cast<signals::Snapshot>(s)->taken_at = t;
    return s;
  };
  auto dead = [](const std::string& url) {
    signals::PodReading p;
    p.endpoint = url;
    p.error = "connection refused";
    return p;
  };
  auto first = e.Update(at(Snap({Pod("a", 1.0, 0, 1), Pod("b", 1.0, 0, 1)}), kNow), kNow);
  ASSERT_DOUBLE_EQ(first.value, 20);
  auto gap = e.Update(at(Snap({dead("a"), dead("b")}), kNow + 10s), kNow + 10s);
  ASSERT_EQ(gap.status.code(), Code::kUnavailable);
  auto back = e.Update(at(Snap({Pod("a", 0.1, 0, 1), dead("b")}), kNow + 20s), kNow + 20s);
  ASSERT_TRUE(back.status.ok()) << back.status.message();
  EXPECT_DOUBLE_EQ(back.value, 20);  // not 1: pod b is still missing
  EXPECT_TRUE(back.held);
  EXPECT_TRUE(back.active);
  auto all = e.Update(at(Snap({Pod("a", 0.1, 0, 1), Pod("b", 0.1, 0, 1)}), kNow + 30s), kNow + 30s);
  EXPECT_DOUBLE_EQ(all.value, 2);  // every pod answers: it may fall
  EXPECT_FALSE(all.held);
}

// Issue 19 item 14: a gauge every pod serves only as NaN or +-Inf is missing data, not zero
// demand: the last answer is held (and with no previous answer there is no value at all).
TEST(Evaluate, GaugesServedOnlyAsNanOrInfAreMissingData) {
  auto spec = Spec({{"window", "2s"}, {"panicWindow", "1s"}});
  auto fresh = Evaluate(spec, Snap({Pod("a", std::nan(""), 0, 0), Pod("b", INFINITY, 0, 0)}));
  EXPECT_EQ(fresh.status.code(), Code::kUnavailable);
  EXPECT_THAT(fresh.status.message(), HasSubstr("kv_cache as NaN or Inf"));

  Evaluator e(spec);
  auto at = [](signals::SnapshotConstPtr s, TimePoint t) {
    std::const_pointer_cast<signals::Snapshot>(s)->taken_at = t;
    return s;
  };
  auto first = e.Update(at(Snap({Pod("a", 0.3, 1, 1)}), kNow), kNow);
  ASSERT_DOUBLE_EQ(first.value, 3);
  auto nan = e.Update(at(Snap({Pod("a", std::nan(""), 1, 1)}), kNow + 10s), kNow + 10s);
  ASSERT_TRUE(nan.status.ok());
  EXPECT_DOUBLE_EQ(nan.value, 3);
  EXPECT_TRUE(nan.held);
  EXPECT_TRUE(nan.active);
  // One pod with +Inf beside a finite one: the Inf pod has no level, the other counts.
  auto mixed = e.Update(at(Snap({Pod("a", INFINITY, 0, 0), Pod("b", 0.2, 0, 0)}), kNow + 20s), kNow + 20s);
  ASSERT_TRUE(mixed.status.ok());
  EXPECT_DOUBLE_EQ(mixed.value, 2);
}

TEST(Evaluate, StalePodGaugesCount) {
  auto p = Pod("b", 0.3, 0, 0);
  p.answered = false;
  p.stale = true;
  auto ev = Evaluate(Spec(), Snap({Pod("a", 0.1, 0, 0), p}));
  EXPECT_DOUBLE_EQ(ev.value, 4);
}

TEST(Evaluate, NoUsablePodIsUnavailableWithReason) {
  signals::PodReading dead;
  dead.endpoint = "a";
  dead.error = "GET http://a:1/m failed: Connection refused";
  auto ev = Evaluate(Spec(), Snap({dead}));
  EXPECT_EQ(ev.status.code(), Code::kUnavailable);
  EXPECT_THAT(ev.status.message(), HasSubstr("no ready pod answered"));
  EXPECT_THAT(ev.status.message(), HasSubstr("Connection refused"));
}

TEST(Evaluate, PodsWithoutTheMetricIsFailedPreconditionNamingIt) {
  signals::PodReading p;
  p.endpoint = "http://a:1/m";
  p.answered = true;
  p.gauges = {{"waiting", 0}, {"running", 0}};
  p.missing =
      "metric gpu_cache_usage_perc (signal kv_cache, engine nim) is not served; it serves vllm:gpu_cache_usage_perc";
  auto ev = Evaluate(Spec(), Snap({p}));
  EXPECT_EQ(ev.status.code(), Code::kFailedPrecondition);
  EXPECT_THAT(ev.status.message(), HasSubstr("signal kv_cache"));
  EXPECT_THAT(ev.status.message(), HasSubstr("http://a:1/m"));
  EXPECT_THAT(ev.status.message(), HasSubstr("it serves vllm:gpu_cache_usage_perc"));
}

}  // namespace
}  // namespace nimscaler::engine
