// Exports formula::Compile, the Program methods, BuiltinSignals and the kind checks. The
// evaluator here walks the immutable tree recursively; its depth is bounded by
// Options::max_depth at parse time.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "scaler/common/text.h"
#include "scaler/formula/ast.h"
#include "scaler/formula/checker.h"
#include "scaler/formula/error.h"
#include "scaler/formula/formula.h"
#include "scaler/formula/parser.h"

namespace nimscaler::formula {
namespace {

using detail::Node;
using detail::Op;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A value during evaluation: a number, NaN (undefined) or empty (a window without
// observations; see the value rules in formula.h). An empty value carries 0 in `v`.
struct Val {
  double v = kNaN;
  bool empty = false;
};

Val Num(double v) { return {v, false}; }
constexpr Val kEmpty{0, true};

bool Truthy(Val a) { return a.v != 0 && !std::isnan(a.v); }
Val Bool(bool b) { return Num(b ? 1.0 : 0.0); }

// Scalar min/max skip NaN and empty operands: one undefined or idle term must not hide the
// others. All skipped: empty if one was empty, else NaN.
Val MinMax(Val a, Val b, bool is_max) {
  bool a_skip = a.empty || std::isnan(a.v);
  bool b_skip = b.empty || std::isnan(b.v);
  if (a_skip && b_skip) return a.empty || b.empty ? kEmpty : Num(kNaN);
  if (a_skip) return b;
  if (b_skip) return a;
  return Num(is_max ? std::max(a.v, b.v) : std::min(a.v, b.v));
}

double MinMax(double a, double b, bool is_max) {
  if (std::isnan(a)) return b;
  if (std::isnan(b)) return a;
  return is_max ? std::max(a, b) : std::min(a, b);
}

double Aggregate(Op op, std::span<const double> values) {
  double sum = 0;
  double best = kNaN;
  size_t n = 0;
  for (double v : values) {
    if (std::isnan(v)) continue;  // a pod without a value is missing, not zero
    ++n;
    sum += v;
    best = MinMax(best, v, op == Op::kMaxPods);
  }
  switch (op) {
    case Op::kSumPods: return sum;
    case Op::kCountPods: return static_cast<double>(n);
    case Op::kAvgPods: return n == 0 ? kNaN : sum / static_cast<double>(n);
    default: return best;
  }
}

// + and -: an empty side counts as 0 and the result is a number, unless both are empty.
Val Additive(Val a, Val b, bool subtract) {
  if (a.empty && b.empty) return kEmpty;
  return Num(subtract ? a.v - b.v : a.v + b.v);
}

// * and /: NaN wins; otherwise an empty side makes the product (or quotient) empty. Division
// by zero, an empty divisor included, is undefined (NaN), never +-Inf.
Val Multiplicative(Val a, Val b, bool divide) {
  if (std::isnan(a.v) || std::isnan(b.v)) return Num(kNaN);
  if (divide && (b.empty || b.v == 0)) return Num(kNaN);
  if (a.empty || b.empty) return kEmpty;
  return Num(divide ? a.v / b.v : a.v * b.v);
}

// A function of one number that keeps an empty argument empty.
template <typename F>
Val Unary(Val a, F f) {
  return a.empty ? kEmpty : Num(f(a.v));
}

Val Eval(const Node& node, const Bindings& b) {
  auto arg = [&](size_t i) { return Eval(*node.args[i], b); };
  switch (node.op) {
    case Op::kNumber: return Num(node.number);
    case Op::kReplicas: return Num(b.Replicas());
    case Op::kPods: return Num(b.Pods());
    case Op::kNeg: return Unary(arg(0), [](double v) { return -v; });
    case Op::kNot: return Bool(!Truthy(arg(0)));
    case Op::kAdd: return Additive(arg(0), arg(1), false);
    case Op::kSub: return Additive(arg(0), arg(1), true);
    case Op::kMul: return Multiplicative(arg(0), arg(1), false);
    case Op::kDiv: return Multiplicative(arg(0), arg(1), true);
    case Op::kLt: return Bool(arg(0).v < arg(1).v);
    case Op::kLe: return Bool(arg(0).v <= arg(1).v);
    case Op::kGt: return Bool(arg(0).v > arg(1).v);
    case Op::kGe: return Bool(arg(0).v >= arg(1).v);
    case Op::kEq: return Bool(arg(0).v == arg(1).v);
    case Op::kNe: return Bool(arg(0).v != arg(1).v);
    case Op::kAnd: return Bool(Truthy(arg(0)) && Truthy(arg(1)));
    case Op::kOr: return Bool(Truthy(arg(0)) || Truthy(arg(1)));
    case Op::kCond: return Truthy(arg(0)) ? arg(1) : arg(2);
    case Op::kSumPods:
    case Op::kAvgPods:
    case Op::kMaxPods:
    case Op::kMinPods:
    case Op::kCountPods: return Num(Aggregate(node.op, b.Gauge(node.args[0]->name)));
    case Op::kRate: return Num(b.Rate(node.args[0]->name));
    case Op::kQuantile: {
      Windowed q = b.Quantile(node.args[0]->number, node.args[1]->name);
      return q.empty ? kEmpty : Num(q.value);
    }
    case Op::kMin:
    case Op::kMax: {
      Val best = Num(kNaN);
      for (const auto& a : node.args) best = MinMax(best, Eval(*a, b), node.op == Op::kMax);
      return best;
    }
    case Op::kCeil: return Unary(arg(0), [](double v) { return std::ceil(v); });
    case Op::kFloor: return Unary(arg(0), [](double v) { return std::floor(v); });
    case Op::kRound: return Unary(arg(0), [](double v) { return std::round(v); });
    case Op::kAbs: return Unary(arg(0), [](double v) { return std::fabs(v); });
    case Op::kClamp: {
      double x = arg(0).v;  // a number is needed: empty reads as 0
      if (std::isnan(x)) return Num(kNaN);
      return Num(MinMax(MinMax(x, arg(1).v, true), arg(2).v, false));
    }
    case Op::kTrend: return Num(b.Trend(node.slot).slope);
    case Op::kPredict: {
      Line line = b.Trend(node.slot);
      return Num(line.at_now + line.slope * node.args[1]->number);
    }
    case Op::kIdent:
    case Op::kCall:
    case Op::kSignal: break;  // resolved by the checker / read by their parents
  }
  return Num(kNaN);
}

bool IsIdentifier(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

Status ValidateSignals(const std::vector<SignalInfo>& signals) {
  std::set<std::string_view> seen;
  for (const auto& s : signals) {
    if (!IsIdentifier(s.name)) {
      return InvalidArgument("formula: signal name '" + Truncate(s.name, 60) +
                             "' is not an identifier (letters, digits and '_', not starting "
                             "with a digit)");
    }
    if (s.name == "replicas" || s.name == "pods") {
      return InvalidArgument("formula: signal name '" + s.name + "' is reserved (it is a builtin number)");
    }
    if (!seen.insert(s.name).second) {
      return InvalidArgument("formula: signal '" + s.name + "' is declared twice");
    }
  }
  return Status::Ok();
}

}  // namespace

const std::vector<SignalInfo>& BuiltinSignals() {
  static const auto* const kBuiltins = [] {
    auto* list = new std::vector<SignalInfo>;
    for (const BuiltinSignal& b : kBuiltinSignals) list->push_back({std::string(b.name), b.kind});
    return list;
  }();
  return *kBuiltins;
}

Program::~Program() = default;

double Program::Evaluate(const Bindings& bindings) const {
  Val v = Eval(*root_, bindings);
  if (v.empty) return 0;  // no observations in the window: no demand
  // Overflow to +-Inf has no meaning as a replica count: report "no answer".
  return std::isfinite(v.v) ? v.v : kNaN;
}

double Program::EvaluateTrendInput(size_t slot, const Bindings& bindings) const {
  if (slot >= trend_inputs_.size()) return kNaN;
  Val v = Eval(*trend_inputs_[slot], bindings);
  if (v.empty) return 0;
  return std::isfinite(v.v) ? v.v : kNaN;
}

std::string Program::Dump() const { return detail::Dump(*root_); }

bool Program::uses_window() const {
  return std::any_of(signals_.begin(), signals_.end(), [](const SignalUse& u) { return u.kind != Kind::kGauge; });
}

Status Program::CheckSignalKind(std::string_view signal, Kind actual) const {
  for (const auto& use : signals_) {
    if (use.name != signal) continue;
    if (actual == Kind::kUnknown || actual == use.kind) return Status::Ok();
    const char* how = use.kind == Kind::kCounter     ? "rate()"
                      : use.kind == Kind::kHistogram ? "quantile()"
                                                     : "an aggregation such as sum()";
    return FailedPrecondition("formula uses signal '" + use.name + "' with " + how + ", which needs a " +
                              SignalKindName(use.kind) + ", but its metric is a " + SignalKindName(actual));
  }
  return Status::Ok();
}

Result<ProgramConstSharedPtr> Compile(std::string_view text, const std::vector<SignalInfo>& signals,
                                      const Options& options) {
  if (Status s = ValidateSignals(signals); !s.ok()) return s;
  detail::Failure failure;
  detail::NodePtr root = detail::Parse(text, options, &failure);
  if (!root) return InvalidArgument(detail::FormatFailure(text, failure));
  detail::CheckedUses uses;
  if (!detail::Check(root.get(), signals, &uses, &failure)) {
    return InvalidArgument(detail::FormatFailure(text, failure));
  }
  std::shared_ptr<Program> program(new Program());
  program->text_ = std::string(text);
  program->root_ = std::move(root);
  program->signals_ = std::move(uses.signals);
  program->uses_replicas_ = uses.replicas;
  program->uses_pods_ = uses.pods;
  program->trend_inputs_ = std::move(uses.trend_inputs);
  return ProgramConstSharedPtr(std::move(program));
}

}  // namespace nimscaler::formula
