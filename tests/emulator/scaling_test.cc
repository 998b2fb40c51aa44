// Scaling scenarios and their runner (issue 13 item 3): the scenarios stress what they claim
// to stress on the calibrated pod, and the runner scales, counts and reports.
#include "tools/demo/scaling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "tools/demo/control.h"

namespace demo {
namespace {

const Scenario& Get(const std::vector<Scenario>& all, const std::string& name) {
  for (const auto& s : all)
    if (s.name == name) return s;
  ADD_FAILURE() << "no scenario " << name;
  return all.front();
}

// One pod under an open-loop rate for `seconds`; returns (mean KV use, waiting at the end).
struct OnePod {
  double kv = 0;
  int waiting = 0;
  double p95 = 0;
};
OnePod RunOnePod(const nimemu::LoadShape& shape, double rate, double seconds) {
  nimemu::Cluster c(nimemu::PodModel{}, shape, 3, 1);
  c.SetRate(rate);
  double kv = 0;
  int n = 0;
  for (double t = 1; t <= seconds; t += 1) {
    c.AdvanceTo(t);
    if (t > seconds / 2) kv += c.pods()[0]->KvUse(), ++n;
  }
  return {kv / n, c.View().waiting, c.TtftQuantile(0.95, 30)};
}

TEST(Scenarios, AreWellFormed) {
  auto all = Scenarios();
  std::set<std::string> names;
  for (const auto& s : all) {
    names.insert(s.name);
    ASSERT_FALSE(s.load.empty()) << s.name;
    EXPECT_EQ(s.load.front().at, 0) << s.name;
    for (size_t i = 1; i < s.load.size(); ++i) EXPECT_GT(s.load[i].at, s.load[i - 1].at) << s.name;
    EXPECT_LT(s.load.back().at, s.duration) << s.name;
    EXPECT_GT(s.stress_at, 0) << s.name;
    EXPECT_LT(s.stress_at, s.duration) << s.name;
    // Every run must end in minutes: at most 40 simulated minutes per scenario.
    EXPECT_LE(s.duration, 2400) << s.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"article", "burst", "ramp", "idle-burst", "long-context"}));
  // The acceptance goal applies to burst, ramp and long-context.
  for (const auto& s : all) EXPECT_EQ(s.goal, s.name == "burst" || s.name == "ramp" || s.name == "long-context");
  // The article's steps are the demo's.
  const auto& a = Get(all, "article");
  ASSERT_EQ(a.load.size(), 7u);
  EXPECT_EQ(a.load[5].concurrency, 400);
  EXPECT_EQ(a.duration, 1080);
}

TEST(Scenarios, BurstGoesPastOnePodsCapacityFromALoadOnePodServes) {
  auto all = Scenarios();
  const auto& s = Get(all, "burst");
  double base = LoadAt(s, s.stress_at - 1).rate, peak = LoadAt(s, s.stress_at).rate;
  OnePod calm = RunOnePod(s.shape, base, 120);
  EXPECT_EQ(calm.waiting, 0);
  EXPECT_LT(calm.p95, 0.5);
  OnePod hot = RunOnePod(s.shape, peak, 120);
  EXPECT_GT(hot.waiting, 1000);
  EXPECT_GT(hot.p95, 2.0);
  // ...but two pods' worth of capacity is not enough either: past 2 pods (about 65/s each).
  EXPECT_GT(peak, 2 * 65);
}

TEST(Scenarios, RampIsSlowAndCrossesOnePodsCapacity) {
  auto all = Scenarios();
  const auto& s = Get(all, "ramp");
  double max_step = 0, peak = 0;
  for (size_t i = 1; i < s.load.size(); ++i) {
    if (s.load[i].rate > s.load[i - 1].rate) max_step = std::max(max_step, s.load[i].rate - s.load[i - 1].rate);
    peak = std::max(peak, s.load[i].rate);
  }
  EXPECT_LE(max_step, 5.0);  // no more than 5 requests/s more per 30 s step
  EXPECT_GE(peak, 3 * 60.0);
  EXPECT_EQ(RunOnePod(s.shape, LoadAt(s, 0).rate, 60).waiting, 0);
}

TEST(Scenarios, IdleBurstIsIdleLongerThanTheCooldown) {
  auto all = Scenarios();
  const auto& s = Get(all, "idle-burst");
  EXPECT_EQ(LoadAt(s, s.stress_at - 1).rate, 0);
  EXPECT_EQ(LoadAt(s, s.stress_at - 1).concurrency, 0);
  EXPECT_GT(s.stress_at, KedaConfig{}.cooldown + KedaConfig{}.polling_interval);
  EXPECT_GT(LoadAt(s, s.stress_at).rate, 65);  // more than one pod serves
}

TEST(Scenarios, LongContextFillsTheKvCacheBeforeTheQueueGrows) {
  auto all = Scenarios();
  const auto& s = Get(all, "long-context");
  EXPECT_EQ(s.shape.input_mean, 4000);
  // The middle step: the cache is well used, nobody waits.
  OnePod mid = RunOnePod(s.shape, LoadAt(s, s.stress_at).rate, 240);
  EXPECT_GT(mid.kv, 0.2);
  EXPECT_EQ(mid.waiting, 0);
  // The peak: when requests first queue, the cache is already (nearly) full.
  nimemu::Cluster c(nimemu::PodModel{}, s.shape, 3, 1);
  c.SetRate(LoadAt(s, 1000).rate);
  double kv_when_queued = -1;
  for (double t = 0.5; t <= 300 && kv_when_queued < 0; t += 0.5) {
    c.AdvanceTo(t);
    if (c.View().waiting >= 5) kv_when_queued = c.pods()[0]->KvUse();
  }
  EXPECT_GT(kv_when_queued, 0.85);
}

// A short burst (startup 30 s so that it ends quickly) through the runner.
Scenario ShortBurst() {
  Scenario s;
  s.name = "short";
  s.title = "short burst";
  s.duration = 420;
  s.stress_at = 120;
  s.load = {{0, 30, 0}, {120, 150, 0}};
  s.goal = true;
  return s;
}

TEST(Runner, BothKindsOfPolicyScaleUpUnderABurst) {
  RunOptions o;
  o.startup = 30;
  Scenario s = ShortBurst();
  for (const auto& p : Policies()) {
    if (p.name != "article" && p.name != "nim-default") continue;
    Result r = demo::Run(s, p, o);
    ASSERT_TRUE(r.ran) << p.name << ": " << r.error;
    EXPECT_GE(r.react_s, 0) << p.name;
    EXPECT_LT(r.react_s, 90) << p.name;                         // within a few controller periods
    EXPECT_GE(r.max_spec, 3) << p.name;                         // 150/s needs at least 3 pods
    EXPECT_GT(r.breach_s, 0) << p.name;                         // one pod breaches until help arrives
    EXPECT_LT(r.breach_s, s.duration - s.stress_at) << p.name;  // ...and help arrives
    EXPECT_GT(r.replica_min, s.duration / 60) << p.name;
    EXPECT_GT(r.requests, 30 * 120);
    EXPECT_EQ(r.samples.size(), size_t(s.duration) + 1);
  }
}

TEST(Runner, ScaleToZeroThenTheWakeHookStartsAPodAtOnce) {
  // idle-burst's mechanism: a min-0 policy goes to zero while idle (KEDA: never active since
  // creation), and the first held request wakes it within a second through the wake hook.
  Scenario s;
  s.name = "wake";
  s.title = "idle, then load";
  s.duration = 200;
  s.stress_at = 120;
  s.load = {{0, 0, 0}, {120, 10, 0}};
  RunOptions o;
  o.startup = 30;
  for (const auto& p : Policies()) {
    if (p.name != "nim-default") continue;
    Result r = demo::Run(s, p, o);
    ASSERT_TRUE(r.ran) << r.error;
    EXPECT_EQ(r.samples[119].spec, 0);
    EXPECT_EQ(r.samples[119].pods, 0);
    EXPECT_GE(r.react_s, 0);
    EXPECT_LE(r.react_s, 1);
    EXPECT_GE(r.samples[199].ready, 1);
    EXPECT_GT(r.breach_s, 0);  // the cold start: requests wait for the pod
  }
}

TEST(Runner, StartupTimePoliciesTakeTheRunsPodStart) {
  // "startupTime: auto" becomes the run's pod start, so the policies build and run.
  Scenario s = ShortBurst();
  s.duration = 60;
  int ran = 0;
  for (const auto& p : Policies()) {
    if (p.metadata.count("startupTime") == 0) continue;
    Result r = demo::Run(s, p, RunOptions{});
    EXPECT_TRUE(r.ran) << p.name << ": " << r.error;
    ++ran;
  }
  EXPECT_EQ(ran, 4);  // nim-startup, nim-kv-startup, nim-running-startup, nim-rate-startup
}

TEST(Runner, StartupTimeCanBeToldApartFromThePodStart) {
  // RunOptions::startup_time (nim-bench-scaling --startup-time) is what "startupTime: auto"
  // becomes: a value the trigger refuses shows that it, not the pod start, reached the metadata.
  Scenario s = ShortBurst();
  s.duration = 60;
  RunOptions o;
  o.startup_time = 0;
  for (const auto& p : Policies()) {
    if (p.name != "nim-startup") continue;
    Result r = demo::Run(s, p, o);
    EXPECT_FALSE(r.ran);
    EXPECT_NE(r.error.find("startupTime"), std::string::npos) << r.error;
    o.startup_time = 300;
    EXPECT_TRUE(demo::Run(s, p, o).ran);
  }
}

// The bound is a reference, not a policy: all the pods it may have, from the stress's first
// second, and none before. A policy that starts the stress on the same pod breaches no less.
TEST(Runner, TheBoundTakesMaxReplicasAtTheStressStartAndBreachesLeast) {
  RunOptions o;
  o.startup = 30;
  Scenario s = ShortBurst();
  std::map<std::string, Result> got;
  for (const auto& p : Policies()) {
    if (p.name == "bound" || p.name == "article" || p.name == "nim-default") got[p.name] = demo::Run(s, p, o);
  }
  ASSERT_EQ(got.size(), 3u);
  const Result& bound = got["bound"];
  ASSERT_TRUE(bound.ran) << bound.error;
  EXPECT_EQ(bound.samples[size_t(s.stress_at) - 1].spec, 1);
  EXPECT_EQ(bound.samples[size_t(s.stress_at)].spec, 10);
  EXPECT_EQ(bound.samples.back().spec, 10) << "it never scales down";
  EXPECT_EQ(bound.react_s, 0);
  EXPECT_GT(bound.breach_s, 0) << "one pod until the others have started";
  EXPECT_LE(bound.breach_s, got["article"].breach_s);
  EXPECT_LE(bound.breach_s, got["nim-default"].breach_s);
}

TEST(Runner, BadMetadataIsAnErrorNotACrash) {
  Policy p;
  p.name = "typo";
  p.metadata = {{"targetKvCach", "0.1"}};
  Result r = demo::Run(ShortBurst(), p, RunOptions{});
  EXPECT_FALSE(r.ran);
  EXPECT_NE(r.error.find("targetKvCach"), std::string::npos) << r.error;
  // The table shows it instead of numbers.
  EXPECT_NE(MarkdownTable({ShortBurst()}, {r}).find("not run"), std::string::npos);
}

// A result of `policy` on `s` with these numbers, for the verdict tests.
Result Ran(const Scenario& s, const std::string& policy, double breach, double rmin) {
  Result r;
  r.scenario = s.name;
  r.policy = policy;
  r.ran = true;
  r.breach_s = breach;
  r.replica_min = rmin;
  return r;
}

TEST(Verdict, MetOnlyWithHalfTheBreachWithin110PercentOfTheReplicaMinutes) {
  Scenario s = ShortBurst();
  auto result = [&](const std::string& policy, double breach, double rmin) { return Ran(s, policy, breach, rmin); };
  EXPECT_NE(GoalVerdict(s, {result("article", 100, 10), result("nim-default", 50, 11)}).find("MET by nim-default"),
            std::string::npos);
  // Half the breach but 120 % of the replica-minutes: not met.
  std::string v = GoalVerdict(s, {result("article", 100, 10), result("nim-default", 40, 12)});
  EXPECT_NE(v.find("NOT met"), std::string::npos) << v;
  // Within the cost but only 40 % fewer: not met.
  v = GoalVerdict(s, {result("article", 100, 10), result("nim-ttft", 60, 9)});
  EXPECT_NE(v.find("NOT met"), std::string::npos) << v;
  // No article breach: said plainly, with whether a policy within the cost does not breach either.
  v = GoalVerdict(s, {result("article", 0, 10), result("nim-ttft", 0, 9)});
  EXPECT_NE(v.find("never breaches"), std::string::npos) << v;
  EXPECT_NE(v.find("nim-ttft 0 s at 90 % of its replica-minutes does not breach either"), std::string::npos) << v;
  v = GoalVerdict(s, {result("article", 0, 10), result("nim-kv", 0, 10.5), result("nim-ttft", 0, 9)});
  EXPECT_NE(v.find("nim-ttft 0 s at 90 %"), std::string::npos) << "a tie goes to the cheaper: " << v;
  v = GoalVerdict(s, {result("article", 0, 10), result("nim-ttft", 0, 12), result("nim-kv", 30, 9)});
  EXPECT_EQ(v.find("does not breach either"), std::string::npos) << v;
  // The bound is never the best policy; it says when the goal is out of reach.
  v = GoalVerdict(s, {result("article", 100, 10), result("bound", 0, 10), result("nim-default", 80, 10)});
  EXPECT_NE(v.find("NOT met"), std::string::npos) << v;
  EXPECT_NE(v.find("the bound (maxReplicas from the stress's first second) breaches 0 s"), std::string::npos) << v;
  EXPECT_EQ(v.find("out of reach"), std::string::npos) << v;
  v = GoalVerdict(s, {result("article", 100, 10), result("bound", 60, 30), result("nim-default", 80, 10)});
  EXPECT_NE(v.find("breaches 60 s, more than the goal allows: out of reach"), std::string::npos) << v;
}

// The ramp's second goal, 90 % fewer with startupTime, holds within the same 110 % of the
// replica-minutes.
TEST(Verdict, TheRampsStartupGoalCountsTheReplicaMinutesToo) {
  Scenario s = ShortBurst();
  s.name = "ramp";
  auto result = [&](const std::string& policy, double breach, double rmin) { return Ran(s, policy, breach, rmin); };
  std::string v = GoalVerdict(s, {result("article", 100, 10), result("nim-kv-startup", 5, 13)});
  EXPECT_NE(v.find("(goal 90 % fewer: NOT met)"), std::string::npos) << v;
  v = GoalVerdict(s, {result("article", 100, 10), result("nim-kv-startup", 5, 13), result("nim-rate-startup", 10, 11)});
  EXPECT_NE(v.find("best with startupTime within 110 %: nim-rate-startup 10 s"), std::string::npos) << v;
  EXPECT_NE(v.find("(goal 90 % fewer: MET)"), std::string::npos) << v;
}

TEST(Output, SvgAndCsvHaveEveryPolicy) {
  RunOptions o;
  o.startup = 30;
  Scenario s = ShortBurst();
  s.duration = 60;
  std::vector<Result> rs;
  for (const auto& p : Policies())
    if (p.name == "article" || p.name == "nim-default") rs.push_back(demo::Run(s, p, o));
  std::string svg = ScenarioSvg(s, rs, 2);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("article:"), std::string::npos);
  EXPECT_NE(svg.find("nim-default:"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  std::string csv = ScenarioCsv(s, rs);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "t,load,article_spec,article_ready,article_p95_ttft,nim-default_spec,"
            "nim-default_ready,nim-default_p95_ttft");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 62);
}

}  // namespace
}  // namespace demo
