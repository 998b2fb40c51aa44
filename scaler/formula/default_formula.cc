// Exports formula::DefaultFormula: the formula that per-replica targets stand for.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "scaler/formula/error.h"
#include "scaler/formula/formula.h"

namespace nimscaler::formula {
namespace {

Status CheckTarget(std::string_view key, double v) {
  if (!std::isfinite(v) || v <= 0) {
    return InvalidArgument(std::string(key) + " must be a number > 0, got " + detail::FormatNumber(v));
  }
  return Status::Ok();
}

struct Term {
  std::string text;
  bool windowed;  ///< an average over the window (rate, quantile), not a level read now
};

// One term per target, in the vocabulary's order. Levels: the total across pods divided by
// what one replica should carry. Latencies: the current replicas scaled by how far the
// quantile is above its target. Rates: the per-second rate across pods over the window divided
// by what one replica should serve.
Result<std::vector<Term>> Terms(const std::map<std::string, double, std::less<>>& per_replica, double q) {
  std::vector<Term> terms;
  for (const BuiltinSignal& b : kBuiltinSignals) {
    auto it = per_replica.find(b.name);
    if (it == per_replica.end()) continue;
    if (Status s = CheckTarget(b.target_key, it->second); !s.ok()) return s;
    const std::string signal(b.name);
    const std::string target = detail::FormatNumber(it->second);
    if (b.target_use == TargetUse::kLevel) terms.push_back({"sum(" + signal + ")/" + target, false});
    if (b.target_use == TargetUse::kRate) terms.push_back({"rate(" + signal + ")/" + target, true});
    if (b.target_use == TargetUse::kLatency) {
      terms.push_back({"replicas*quantile(" + detail::FormatNumber(q) + ", " + signal + ")/" + target, true});
    }
  }
  return terms;
}

// max(t1, t2, ...) of the terms in `use`, or the single term itself.
std::string MaxOf(const std::vector<std::string>& use) {
  if (use.size() == 1) return use.front();
  std::string out = "max(";
  for (size_t i = 0; i < use.size(); ++i) out += (i ? ", " : "") + use[i];
  return out + ")";
}

}  // namespace

Result<std::string> DefaultFormula(const Targets& targets) {
  for (const auto& [signal, target] : targets.per_replica) {
    const BuiltinSignal* b = FindBuiltinSignal(signal);
    if (b == nullptr || b->target_use == TargetUse::kNone) {
      return InvalidArgument("'" + signal + "' has no per-replica target");
    }
  }
  std::map<std::string, double, std::less<>> per_replica = targets.per_replica;
  // docs/formula.md "The formula": with neither a target nor a formula, scale on the
  // vocabulary's defaults (KV use and queue length).
  if (per_replica.empty()) {
    for (const BuiltinSignal& b : kBuiltinSignals) {
      if (b.default_target > 0) per_replica.emplace(b.name, b.default_target);
    }
  }
  const double q = targets.latency_quantile;
  if (!(q > 0 && q <= 1)) {
    return InvalidArgument("latencyQuantile must be in (0, 1], got " + detail::FormatNumber(q));
  }
  auto terms = Terms(per_replica, q);
  if (!terms.ok()) return terms.status();
  const std::optional<double>& startup = targets.startup_time;
  if (!startup) {
    std::vector<std::string> all;
    for (const Term& t : *terms) all.push_back(t.text);
    return MaxOf(all);
  }
  // A pod asked for now serves after its startup time: scale on the demand predicted that far
  // ahead, never below the demand now (a falling trend does not scale down early). The value
  // KEDA gets is the formula's average over the window, which trails a rising line by half the
  // window; a rate or a quantile is itself an average over the window and trails it by another
  // half. Each group is predicted that much further, so the reported value is the demand one
  // startup time ahead (docs/formula.md "Slow cold starts").
  if (Status s = CheckTarget("startupTime", *startup); !s.ok()) return s;
  if (Status s = CheckTarget("window", targets.window_seconds); !s.ok()) return s;
  std::vector<std::string> out;
  for (bool windowed : {false, true}) {
    std::vector<std::string> group;
    for (const Term& t : *terms) {
      if (t.windowed == windowed) group.push_back(t.text);
    }
    if (group.empty()) continue;
    const double horizon = *startup + targets.window_seconds * (windowed ? 1.0 : 0.5);
    const std::string demand = MaxOf(group);
    out.push_back(demand);
    out.push_back("predict(" + demand + ", " + detail::FormatNumber(horizon) + "s)");
  }
  return MaxOf(out);
}

}  // namespace nimscaler::formula
