// Exports detail::Check. The Checker class here is private. Every message says how to fix the
// formula: a per-pod signal used as a number names the aggregation to use, a wrong kind names
// the right function, an unknown name gets a "did you mean".
#include "scaler/formula/checker.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "scaler/common/text.h"

namespace nimscaler::formula::detail {
namespace {

enum class Fn : uint8_t {
  kMin,
  kMax,
  kCeil,
  kFloor,
  kRound,
  kAbs,
  kClamp,
  kSum,
  kAvg,
  kCount,
  kRate,
  kQuantile,
  kTrend,
  kPredict,
};

struct FnInfo {
  const char* name;
  Fn fn;
};

constexpr FnInfo kFunctions[] = {
    {"min", Fn::kMin},     {"max", Fn::kMax},         {"ceil", Fn::kCeil},   {"floor", Fn::kFloor},
    {"round", Fn::kRound}, {"abs", Fn::kAbs},         {"clamp", Fn::kClamp}, {"sum", Fn::kSum},
    {"avg", Fn::kAvg},     {"count", Fn::kCount},     {"rate", Fn::kRate},   {"quantile", Fn::kQuantile},
    {"trend", Fn::kTrend}, {"predict", Fn::kPredict},
};

const FnInfo* FindFunction(std::string_view name) {
  for (const auto& f : kFunctions) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

std::vector<std::string> FunctionNames() {
  std::vector<std::string> names;
  for (const auto& f : kFunctions) names.emplace_back(f.name);
  return names;
}

// Where an expression starts in the text: the leftmost position in its subtree (binary nodes
// carry their operator's position).
size_t StartPos(const Node& node) {
  size_t pos = node.pos;
  for (const auto& arg : node.args) pos = std::min(pos, StartPos(*arg));
  return pos;
}

// The hint for a signal of `kind` used where it does not fit.
std::string UseHint(const std::string& name, Kind kind) {
  switch (kind) {
    case Kind::kCounter: return "use rate(" + name + ")";
    case Kind::kHistogram: return "use quantile(0.95, " + name + ")";
    default: return "aggregate it, e.g. sum(" + name + ")";
  }
}

class Checker {
 public:
  Checker(const std::vector<SignalInfo>& signals, Failure* failure) : failure_(failure) {
    for (const auto& s : signals) {
      kinds_[s.name] = s.kind;
      names_.push_back(s.name);
    }
    names_.push_back("replicas");
    names_.push_back("pods");
  }

  bool Run(Node* root, CheckedUses* out) {
    if (!Scalar(root)) return false;
    for (auto& [name, use] : uses_) {
      std::sort(use.quantiles.begin(), use.quantiles.end());
      use.quantiles.erase(std::unique(use.quantiles.begin(), use.quantiles.end()), use.quantiles.end());
      out->signals.push_back(use);
    }
    out->replicas = replicas_;
    out->pods = pods_;
    out->trend_inputs = std::move(trend_inputs_);
    return true;
  }

 private:
  bool Fail(size_t pos, std::string message) {
    *failure_ = {pos, std::move(message)};
    return false;
  }

  bool IsSignal(const std::string& name) const { return kinds_.count(name) > 0; }

  bool UnknownName(const Node& node) {
    if (FindFunction(node.name)) {
      const char* args = node.name == "quantile" ? "0.95, ttft" : node.name == "predict" ? "sum(waiting), 2m" : "x";
      return Fail(node.pos, "'" + node.name + "' is a function; call it, e.g. " + node.name + "(" + args + ")");
    }
    std::string message = "unknown signal '" + Truncate(node.name, 60) + "'";
    if (auto guess = SuggestClosest(node.name, names_)) {
      message += ", did you mean '" + *guess + "'?";
    } else {
      std::string known;
      for (const auto& n : names_) known += (known.empty() ? "" : ", ") + n;
      message += " (known: " + Truncate(known, 200) + ")";
    }
    return Fail(node.pos, std::move(message));
  }

  // Checks that `node` is a scalar expression and resolves it.
  bool Scalar(Node* node) {
    switch (node->op) {
      case Op::kNumber: return true;
      case Op::kIdent:
        if (node->name == "replicas") {
          node->op = Op::kReplicas;
          replicas_ = true;
          return true;
        }
        if (node->name == "pods") {
          node->op = Op::kPods;
          pods_ = true;
          return true;
        }
        if (IsSignal(node->name)) {
          Kind kind = kinds_[node->name];
          std::string what = kind == Kind::kCounter     ? "a counter"
                             : kind == Kind::kHistogram ? "a histogram"
                                                        : "a per-pod signal";
          return Fail(node->pos, "'" + node->name + "' is " + what + "; " + UseHint(node->name, kind));
        }
        return UnknownName(*node);
      case Op::kCall: return Call(node);
      default:
        for (auto& arg : node->args) {
          if (!Scalar(arg.get())) return false;
        }
        return true;
    }
  }

  bool Arity(const Node& node, size_t want, const char* what) {
    if (node.args.size() == want) return true;
    std::string message = node.name + "() takes " + std::to_string(want) + (want == 1 ? " argument" : " arguments");
    if (what[0] != '\0') message += std::string(" (") + what + ")";
    return Fail(node.pos, message + ", got " + std::to_string(node.args.size()));
  }

  bool Call(Node* node) {
    const FnInfo* fn = FindFunction(node->name);
    if (!fn) {
      if (IsSignal(node->name)) {
        return Fail(node->pos, "'" + node->name + "' is a signal, not a function");
      }
      if (node->name == "replicas" || node->name == "pods") {
        return Fail(node->pos, "'" + node->name + "' is a number, not a function");
      }
      std::string message = "unknown function '" + Truncate(node->name, 60) + "'";
      if (auto guess = SuggestClosest(node->name, FunctionNames())) {
        message += ", did you mean '" + *guess + "'?";
      } else {
        message +=
            " (functions: min, max, ceil, floor, round, abs, clamp, sum, avg, count, "
            "rate, quantile, trend, predict)";
      }
      return Fail(node->pos, std::move(message));
    }
    switch (fn->fn) {
      case Fn::kMin:
      case Fn::kMax: {
        // One signal argument aggregates across pods; otherwise min/max of numbers.
        if (node->args.size() == 1 && node->args[0]->op == Op::kIdent && IsSignal(node->args[0]->name)) {
          return Aggregate(node, fn->fn == Fn::kMax ? Op::kMaxPods : Op::kMinPods);
        }
        if (node->args.empty()) {
          return Fail(node->pos, node->name + "() needs at least 1 argument");
        }
        node->op = fn->fn == Fn::kMax ? Op::kMax : Op::kMin;
        return ScalarArgs(node);
      }
      case Fn::kCeil:
      case Fn::kFloor:
      case Fn::kRound:
      case Fn::kAbs:
        if (!Arity(*node, 1, "")) return false;
        node->op = fn->fn == Fn::kCeil    ? Op::kCeil
                   : fn->fn == Fn::kFloor ? Op::kFloor
                   : fn->fn == Fn::kRound ? Op::kRound
                                          : Op::kAbs;
        return ScalarArgs(node);
      case Fn::kClamp:
        if (!Arity(*node, 3, "x, lo, hi")) return false;
        node->op = Op::kClamp;
        return ScalarArgs(node);
      case Fn::kSum: return Aggregate(node, Op::kSumPods);
      case Fn::kAvg: return Aggregate(node, Op::kAvgPods);
      case Fn::kCount: return Aggregate(node, Op::kCountPods);
      case Fn::kRate:
        if (!Arity(*node, 1, "a counter")) return false;
        node->op = Op::kRate;
        return SignalArg(node->args[0].get(), Kind::kCounter, -1);
      case Fn::kQuantile: return Quantile(node);
      case Fn::kTrend:
      case Fn::kPredict: return Trend(node, fn->fn == Fn::kPredict);
    }
    return false;
  }

  // trend(x) and predict(x, horizon): x is any scalar expression whose values the engine keeps
  // over the window; the horizon is a duration literal. They do not nest: a trend of a trend
  // would fit a line to a line.
  bool Trend(Node* node, bool predict) {
    const std::string fn = node->name;
    if (predict && node->args.size() == 1) {
      return Fail(node->pos, "predict() needs a horizon, how far ahead as a duration, e.g. predict(sum(waiting), 2m)");
    }
    if (!Arity(*node, predict ? 2 : 1, predict ? "x, horizon" : "an expression, e.g. trend(sum(waiting))")) {
      return false;
    }
    if (in_trend_) {
      return Fail(node->pos, fn + "() cannot be used inside trend() or predict(): a trend of a trend has no meaning");
    }
    if (predict) {
      const Node* h = node->args[1].get();
      if (h->op != Op::kNumber || !h->duration) {
        std::string message = "predict() horizon must be a duration such as 2m or 90s";
        if (h->op == Op::kNumber) {
          message += ", got " + FormatNumber(h->number) + ", did you mean " + FormatNumber(h->number) + "s?";
        }
        return Fail(StartPos(*h), std::move(message));
      }
      if (!(h->number > 0)) {
        return Fail(h->pos, "predict() horizon must be longer than 0, got " + FormatNumber(h->number) + "s");
      }
    }
    in_trend_ = true;
    bool ok = Scalar(node->args[0].get());
    in_trend_ = false;
    if (!ok) return false;
    node->op = predict ? Op::kPredict : Op::kTrend;
    node->name.clear();
    node->slot = trend_inputs_.size();
    trend_inputs_.push_back(node->args[0].get());
    return true;
  }

  bool ScalarArgs(Node* node) {
    for (auto& arg : node->args) {
      if (!Scalar(arg.get())) return false;
    }
    node->name.clear();
    return true;
  }

  bool Aggregate(Node* node, Op op) {
    if (!Arity(*node, 1, "a signal")) return false;
    std::string fn = node->name;
    node->op = op;
    node->name.clear();
    return SignalArg(node->args[0].get(), Kind::kGauge, -1, fn);
  }

  bool Quantile(Node* node) {
    if (!Arity(*node, 2, "q, histogram")) return false;
    Node* q = node->args[0].get();
    std::string example = "quantile(0.95, " + ExampleName(Kind::kHistogram) + ")";
    if (q->op != Op::kNumber) {
      return Fail(StartPos(*q), "quantile() level must be a number between 0 and 1, e.g. " + example);
    }
    if (!(q->number >= 0 && q->number <= 1)) {
      std::string message = "quantile() level must be between 0 and 1, got " + FormatNumber(q->number);
      if (q->number > 1 && q->number <= 100) {
        message += ", did you mean " + FormatNumber(q->number / 100) + "?";
      }
      return Fail(q->pos, std::move(message));
    }
    node->op = Op::kQuantile;
    node->name.clear();
    return SignalArg(node->args[1].get(), Kind::kHistogram, q->number, "quantile");
  }

  // A signal of `kind` to show in an example: the usual builtin when declared, else the first
  // declared one of that kind.
  std::string ExampleName(Kind kind) const {
    std::string preferred = kind == Kind::kCounter ? kRequests : kind == Kind::kHistogram ? kTtft : kWaiting;
    auto it = kinds_.find(preferred);
    if (it != kinds_.end() && it->second == kind) return preferred;
    for (const auto& name : names_) {
      auto k = kinds_.find(name);
      if (k != kinds_.end() && k->second == kind) return name;
    }
    return preferred;
  }

  // Resolves a signal-name argument of an aggregation, rate() or quantile().
  bool SignalArg(Node* arg, Kind need, double q, std::string fn = "rate") {
    std::string example =
        need == Kind::kHistogram ? "quantile(0.95, " + ExampleName(need) + ")" : fn + "(" + ExampleName(need) + ")";
    if (arg->op != Op::kIdent) {
      return Fail(StartPos(*arg), fn + "() needs a signal name, e.g. " + example);
    }
    if (arg->name == "replicas" || arg->name == "pods") {
      return Fail(arg->pos, "'" + arg->name + "' is a number, not a per-pod signal; " + fn +
                                "() needs a signal name, e.g. " + example);
    }
    if (!IsSignal(arg->name)) return UnknownName(*arg);
    Kind kind = kinds_[arg->name];
    if (kind != Kind::kUnknown && kind != need) {
      std::string message =
          fn + "() needs a " + SignalKindName(need) + "; '" + arg->name + "' is a " + SignalKindName(kind);
      if (kind != Kind::kGauge) message += ", " + UseHint(arg->name, kind);
      return Fail(arg->pos, std::move(message));
    }
    auto [it, inserted] = uses_.try_emplace(arg->name);
    SignalUse& use = it->second;
    if (inserted) {
      use.name = arg->name;
      use.kind = need;
      use.declared = kind;
    } else if (use.kind != need) {
      return Fail(arg->pos, "'" + arg->name + "' cannot be both a " + SignalKindName(use.kind) + " and a " +
                                SignalKindName(need) + "; it is used as a " + SignalKindName(use.kind) +
                                " earlier in the formula");
    }
    if (need == Kind::kHistogram) use.quantiles.push_back(q);
    arg->op = Op::kSignal;
    arg->kind = kind;
    return true;
  }

  Failure* failure_;
  std::map<std::string, Kind> kinds_;
  std::vector<std::string> names_;  // for suggestions, in declaration order
  std::map<std::string, SignalUse> uses_;
  bool replicas_ = false;
  bool pods_ = false;
  bool in_trend_ = false;
  std::vector<const Node*> trend_inputs_;
};

}  // namespace

bool Check(Node* root, const std::vector<SignalInfo>& signals, CheckedUses* uses, Failure* failure) {
  Checker checker(signals, failure);
  return checker.Run(root, uses);
}

}  // namespace nimscaler::formula::detail
