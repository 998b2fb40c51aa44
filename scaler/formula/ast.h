#pragma once
// Internal: the formula syntax tree shared by the parser, the checker and the Program.
// The parser produces the syntax-level ops (kIdent, kCall); the checker rewrites them in place
// into resolved ops (kSignal, kSumPods, kRate, kMax, ...). Not thread-safe while being built;
// immutable once owned by a Program.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "scaler/formula/formula.h"

namespace nimscaler::formula::detail {

enum class Op : uint8_t {
  // Produced by the parser.
  kNumber,
  kIdent,  // a bare name, resolved by the checker
  kCall,   // name(args...), resolved by the checker
  kNeg,
  kNot,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kAnd,
  kOr,
  kCond,
  // Produced by the checker.
  kSignal,
  kReplicas,
  kPods,
  kSumPods,
  kAvgPods,
  kMaxPods,
  kMinPods,
  kCountPods,
  kRate,
  kQuantile,  // args: [num(q), signal]
  kMin,
  kMax,
  kCeil,
  kFloor,
  kRound,
  kAbs,
  kClamp,
  kTrend,    // args: [x]; `slot` numbers it among the formula's trend() and predict()
  kPredict,  // args: [x, num(horizon seconds)]; `slot` as for kTrend
};

/// One node. `pos` is the byte offset of the token that names it (the operator, the number,
/// the identifier), used for error carets.
struct Node {
  Op op = Op::kNumber;
  size_t pos = 0;
  double number = 0;           // kNumber
  bool duration = false;       // kNumber written as a duration (2m, 500ms)
  size_t slot = 0;             // kTrend, kPredict: index into Program::trend_inputs
  std::string name;            // kIdent, kCall, kSignal
  Kind kind = Kind::kUnknown;  // kSignal: the declared kind
  int height = 1;              // 1 + the tallest child
  std::vector<std::unique_ptr<Node>> args;
};

using NodePtr = std::unique_ptr<Node>;

/// Canonical text of a (sub)tree: "add(num(1), mul(gauge(x), num(2)))".
std::string Dump(const Node& node);

}  // namespace nimscaler::formula::detail
