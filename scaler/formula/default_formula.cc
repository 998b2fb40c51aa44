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

// One term per target, in the vocabulary's order. Levels: the total across pods divided by
// what one replica should carry. Latencies: the current replicas scaled by how far the
// quantile is above its target. Rates: the per-second rate across pods over the window divided
// by what one replica should serve.
Result<std::vector<std::string>> Terms(const std::map<std::string, double, std::less<>>& per_replica, double q) {
  std::vector<std::string> terms;
  for (const BuiltinSignal& b : kBuiltinSignals) {
    auto it = per_replica.find(b.name);
    if (it == per_replica.end()) continue;
    if (Status s = CheckTarget(b.target_key, it->second); !s.ok()) return s;
    const std::string signal(b.name);
    const std::string target = detail::FormatNumber(it->second);
    if (b.target_use == TargetUse::kLevel) terms.push_back("sum(" + signal + ")/" + target);
    if (b.target_use == TargetUse::kRate) terms.push_back("rate(" + signal + ")/" + target);
    if (b.target_use == TargetUse::kLatency) {
      terms.push_back("replicas*quantile(" + detail::FormatNumber(q) + ", " + signal + ")/" + target);
    }
  }
  return terms;
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
  std::string demand = terms->front();
  if (terms->size() > 1) {
    demand = "max(";
    for (size_t i = 0; i < terms->size(); ++i) demand += (i ? ", " : "") + (*terms)[i];
    demand += ")";
  }
  const std::optional<double>& startup = targets.startup_time;
  if (!startup) return demand;
  // A pod asked for now serves after its startup time: scale on the demand predicted that far
  // ahead, never below the demand now (a falling trend does not scale down early).
  if (Status s = CheckTarget("startupTime", *startup); !s.ok()) return s;
  return "max(" + demand + ", predict(" + demand + ", " + detail::FormatNumber(*startup) + "s))";
}

}  // namespace nimscaler::formula
