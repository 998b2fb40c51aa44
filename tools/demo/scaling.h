#pragma once
// Scaling scenarios (issue 13 item 3): load patterns that stress the TTFT SLO, scaling
// policies to compare on each, and a runner on a simulated clock.
//
// Every run owns one emulated cluster (tools/nim-emulator/sim.h) and drives it second by
// second. The article's policy is the HPA on the Pods metric gpu_cache_usage_perc fed by a
// 30 s metrics pipeline; nim-scaler's policies run the real trigger code in-process:
// BuildScalerSpec validates the metadata, every scrapeInterval each ready pod's exposition
// text (tools/nim-emulator/exposition.h) goes through PodScrapeSource::Extract and the
// Evaluator, exactly as the server's collection cycle feeds them, on simulated time points.
// KEDA and the HPA are the rules of tools/demo/control.h, with the same periods and offsets
// as `make demo` (tools/demo/main.cc): Prometheus 0 s, HPA sync 7 s + 15 s k, KEDA poll
// 13 s + 30 s k; StreamIsActive pushes and the wake hook act at once.
//
// Pure apart from CPU: no clocks, no I/O, no threads; same inputs -> same numbers.

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/nim-emulator/sim.h"

namespace demo {

/// From `at` on, the client sends `rate` requests/s (open loop, Poisson) or, when rate is 0,
/// keeps `concurrency` requests in flight (closed loop).
struct LoadPoint {
  double at = 0;
  double rate = 0;
  int concurrency = 0;
};

struct Scenario {
  std::string name;             ///< short id: article, burst, ramp, idle-burst, long-context
  std::string title;            ///< one line for tables and plots
  double duration = 0;          ///< simulated seconds
  double stress_at = 0;         ///< when demand first grows (react time is measured from here)
  nimemu::LoadShape shape;      ///< request sizes
  std::vector<LoadPoint> load;  ///< sorted by `at`; the first is at 0
  /// Part of the acceptance goal (issue 13): nim-scaler's best policy should breach at least
  /// 50 % less than the article's at no more than 110 % of its replica-minutes.
  bool goal = false;
};

/// `v` with `decimals` digits after the point, for tables ("12", "3.5").
std::string Num(double v, int decimals = 0);

/// The p95 TTFT panel of a chart (scaling-*.svg, replay-*.svg): a log scale from 10 ms to
/// 1000 s over a panel `height` high whose top is at `top`, `width` wide from x = `left`.
struct TtftAxis {
  double left, width, top, height;
  /// The y of `seconds` (clamped to the scale).
  double Y(double seconds) const;
  /// Tick labels, the axis title and the dashed SLO line with its label, as SVG.
  void Draw(std::ostream& o, double slo) const;
};

/// The scenarios, in table order. Rates are stated against one pod's capacity as calibrated
/// in docs/emulator-calibration.md (about 65 requests/s of 200 + 200 tokens; about 11/s with
/// 4,000-token prompts), never against a policy's behaviour.
std::vector<Scenario> Scenarios();
/// The load at time t (the last point at or before t).
LoadPoint LoadAt(const Scenario& s, double t);

struct Policy {
  std::string name;  ///< article, nim-default, nim-kv, ... (Policies() lists them)
  std::string title;
  bool article = false;  ///< the HPA-on-KV-cache configuration instead of nim-scaler
  /// Not a policy but a bound: maxReplicas from the stress's first second on. No policy that
  /// meets the stress with the same pods and cannot see it coming breaches less.
  bool bound = false;
  std::map<std::string, std::string> metadata;  ///< nim-scaler trigger keys (beside engine, scrapeInterval)
  int min_replicas = 0;                         ///< KEDA minReplicaCount (article: the HPA's minReplicas)
};

std::vector<Policy> Policies();

struct RunOptions {
  double startup = 150;  ///< pod start, simulated seconds
  /// What the policies with "startupTime: auto" are told; unset: the pod start itself. Set apart
  /// to see what a startupTime other than the real start does.
  std::optional<double> startup_time;
  double slo = 2;  ///< p95 TTFT bound (MLPerf conversational)
  uint64_t seed = 42;
  int initial_replicas = 1;  ///< ready at t = 0 (min-0 policies go to zero by themselves)
  /// Clients abandon a request not scheduled within this many seconds (an ingress's default
  /// proxy timeout, nginx's 60 s), so that a pod's backlog ends; 0: they wait forever.
  double client_timeout = 60;
};

struct Sample {
  double t = 0, load = 0;  ///< load: requests/s, or concurrency for closed-loop phases
  double p95 = 0;          ///< client-side p95 TTFT over the trailing 30 s, pending by age
  double kv = 0;           ///< mean KV use of ready pods
  int spec = 0, ready = 0, pods = 0, waiting = 0;
};

struct Result {
  std::string scenario, policy;
  bool ran = false;
  std::string error;       ///< why the policy could not run (e.g. a key this build lacks)
  double react_s = -1;     ///< stress_at -> first scale-up at or after it (-1: never)
  double breach_s = 0;     ///< seconds with p95 TTFT above the SLO
  double replica_min = 0;  ///< pod-minutes (starting, ready and terminating pods)
  long waited = 0;         ///< requests scheduled more than 1 s after they were sent (or still pending so)
  long requests = 0;       ///< requests that got a first token or were abandoned
  long abandoned = 0;      ///< requests whose client gave up waiting (counted in `waited`)
  int max_spec = 0;
  std::vector<Sample> samples;  ///< one per simulated second
};

/// Runs one scenario under one policy. Errors (bad metadata) come back in Result::error.
Result Run(const Scenario& s, const Policy& p, const RunOptions& o);

/// The goal check for one scenario (its results, any order): a one-line verdict.
std::string GoalVerdict(const Scenario& s, const std::vector<Result>& results);

/// Markdown table: scenario, policy, react, breach, replica-minutes, waited.
std::string MarkdownTable(const std::vector<Scenario>& scenarios, const std::vector<Result>& results);

/// One scenario's plot: load and spec.replicas per policy; p95 TTFT per policy and the SLO.
std::string ScenarioSvg(const Scenario& s, const std::vector<Result>& results, double slo);
/// One scenario's timeline: t, load, then spec/ready/p95 per policy.
std::string ScenarioCsv(const Scenario& s, const std::vector<Result>& results);

}  // namespace demo
