// Exports formula::DefaultFormula: the formula that per-replica targets stand for.
#include <cmath>
#include <string>
#include <vector>

#include "scaler/formula/error.h"
#include "scaler/formula/formula.h"

namespace nimscaler::formula {
namespace {

// docs/formula.md "The formula": with neither a target nor a formula, scale on KV use
// and queue length.
constexpr double kDefaultKvCache = 0.8;
constexpr double kDefaultWaiting = 4;

Status CheckTarget(const char* key, double v) {
  if (!std::isfinite(v) || v <= 0) {
    return InvalidArgument(std::string(key) + " must be a number > 0, got " + detail::FormatNumber(v));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> DefaultFormula(const Targets& targets) {
  Targets t = targets;
  if (!t.kv_cache && !t.waiting && !t.running && !t.ttft && !t.itl && !t.e2e) {
    t.kv_cache = kDefaultKvCache;
    t.waiting = kDefaultWaiting;
  }
  const double q = t.latency_quantile;
  if (!(q > 0 && q <= 1)) {
    return InvalidArgument("latencyQuantile must be in (0, 1], got " + detail::FormatNumber(q));
  }
  std::vector<std::string> terms;
  struct Level {
    const char* key;
    const char* signal;
    const std::optional<double>& target;
  };
  // Levels: the total across pods divided by what one replica should carry.
  for (const Level& l : {Level{"targetKvCache", "kv_cache", t.kv_cache}, Level{"targetWaiting", "waiting", t.waiting},
                         Level{"targetRunning", "running", t.running}}) {
    if (!l.target) continue;
    if (Status s = CheckTarget(l.key, *l.target); !s.ok()) return s;
    terms.push_back("sum(" + std::string(l.signal) + ")/" + detail::FormatNumber(*l.target));
  }
  // Latencies: scale the current replicas by how far the quantile is above its target.
  for (const Level& l :
       {Level{"targetTtft", "ttft", t.ttft}, Level{"targetItl", "itl", t.itl}, Level{"targetE2e", "e2e", t.e2e}}) {
    if (!l.target) continue;
    if (Status s = CheckTarget(l.key, *l.target); !s.ok()) return s;
    terms.push_back("replicas*quantile(" + detail::FormatNumber(q) + ", " + l.signal + ")/" +
                    detail::FormatNumber(*l.target));
  }
  std::string demand = terms.front();
  if (terms.size() > 1) {
    demand = "max(";
    for (size_t i = 0; i < terms.size(); ++i) demand += (i ? ", " : "") + terms[i];
    demand += ")";
  }
  if (!t.startup_time) return demand;
  // A pod asked for now serves after its startup time: scale on the demand predicted that far
  // ahead, never below the demand now (a falling trend does not scale down early).
  if (Status s = CheckTarget("startupTime", *t.startup_time); !s.ok()) return s;
  return "max(" + demand + ", predict(" + demand + ", " + detail::FormatNumber(*t.startup_time) + "s))";
}

}  // namespace nimscaler::formula
