#pragma once
// Replay of recorded demand (issue 13 item 4): a demand file written by `nim-scaler record`
// (scaler/app/demand_file.h) becomes a Scenario of tools/demo/scaling.h, so that the runner
// of the scaling bench (demo::Run: the emulated cluster, the real spec, scrape extraction and
// evaluator, the demo's KEDA/HPA rules) replays it under each trigger configuration.
//
// Pure apart from CPU, like scaling.h.

#include <map>
#include <string>
#include <vector>

#include "scaler/app/demand_file.h"
#include "tools/demo/scaling.h"

namespace demo {

/// The recorded demand as an open-loop scenario. The load is the recorded arrival rate,
/// averaged over each simulated second (a sample holds from the end of the previous one to
/// its own `t`); request sizes are the recording's mean prompt and output tokens per
/// completed request (the article's 200 + 200 when the pods serve no token counters).
/// stress_at: the start of the first second at half the peak arrival rate or more.
Scenario ReplayScenario(const nimscaler::app::DemandTrace& trace, const std::string& title);

/// Keys of a trigger's metadata that describe the real deployment rather than the scaling
/// decision: where the pods are, how they are scraped, which model's series to keep. The
/// replay drops them (its pods are emulated NIM pods, scraped every 2 s by demo::Run).
const std::vector<std::string>& DeploymentKeys();

/// Drops DeploymentKeys() from `metadata`; returns the ones it held (key: value), so that the
/// caller can say what the replay does not follow.
std::vector<std::string> StripDeploymentKeys(std::map<std::string, std::string>* metadata);

/// One policy per trigger configuration: `name` for tables, `metadata` as read from the file.
Policy ReplayPolicy(const std::string& name, const std::string& title, std::map<std::string, std::string> metadata,
                    int min_replicas);

/// The plot: recorded arrivals, the recorded ready pods and spec.replicas per policy (one
/// colour each); p95 TTFT per policy against the SLO.
std::string ReplaySvg(const Scenario& s, const std::vector<Result>& results, const nimscaler::app::DemandTrace& trace,
                      double slo);

}  // namespace demo
