// Exports detail::Dump (canonical text of a formula syntax tree, used by golden tests and
// `nim-scaler check`).
#include "scaler/formula/ast.h"

#include "scaler/formula/error.h"

namespace nimscaler::formula {

namespace detail {
namespace {

const char* OpName(Op op) {
  switch (op) {
    case Op::kNumber: return "num";
    case Op::kIdent: return "ident";
    case Op::kCall: return "call";
    case Op::kNeg: return "neg";
    case Op::kNot: return "not";
    case Op::kAdd: return "add";
    case Op::kSub: return "sub";
    case Op::kMul: return "mul";
    case Op::kDiv: return "div";
    case Op::kLt: return "lt";
    case Op::kLe: return "le";
    case Op::kGt: return "gt";
    case Op::kGe: return "ge";
    case Op::kEq: return "eq";
    case Op::kNe: return "ne";
    case Op::kAnd: return "and";
    case Op::kOr: return "or";
    case Op::kCond: return "cond";
    case Op::kSignal: return "signal";
    case Op::kReplicas: return "replicas";
    case Op::kPods: return "pods";
    case Op::kSumPods: return "sum_pods";
    case Op::kAvgPods: return "avg_pods";
    case Op::kMaxPods: return "max_pods";
    case Op::kMinPods: return "min_pods";
    case Op::kCountPods: return "count_pods";
    case Op::kRate: return "rate";
    case Op::kQuantile: return "quantile";
    case Op::kMin: return "min";
    case Op::kMax: return "max";
    case Op::kCeil: return "ceil";
    case Op::kFloor: return "floor";
    case Op::kRound: return "round";
    case Op::kAbs: return "abs";
    case Op::kClamp: return "clamp";
    case Op::kTrend: return "trend";
    case Op::kPredict: return "predict";
  }
  return "?";
}

void DumpTo(const Node& node, std::string* out) {
  switch (node.op) {
    case Op::kNumber: *out += "num(" + FormatNumber(node.number) + ")"; return;
    case Op::kIdent: *out += "ident(" + node.name + ")"; return;
    case Op::kSignal:
      // The kind says which Bindings call feeds it; unknown-kind custom signals show "signal".
      *out += node.kind == Kind::kUnknown ? "signal" : SignalKindName(node.kind);
      *out += "(" + node.name + ")";
      return;
    case Op::kReplicas:
    case Op::kPods: *out += OpName(node.op); return;
    case Op::kCall:
      *out += "call(" + node.name;
      for (const auto& arg : node.args) {
        *out += ", ";
        DumpTo(*arg, out);
      }
      *out += ")";
      return;
    default: break;
  }
  *out += OpName(node.op);
  *out += "(";
  for (size_t i = 0; i < node.args.size(); ++i) {
    if (i > 0) *out += ", ";
    DumpTo(*node.args[i], out);
  }
  *out += ")";
}

}  // namespace

std::string Dump(const Node& node) {
  std::string out;
  DumpTo(node, &out);
  return out;
}

}  // namespace detail
}  // namespace nimscaler::formula
