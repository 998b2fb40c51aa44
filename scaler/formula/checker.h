#pragma once
// Internal: resolves names in a parsed tree against the declared signals and checks types
// (scalar vs per-pod, gauge vs counter vs histogram) and arity, rewriting kIdent and kCall
// nodes into resolved ops in place.

#include <vector>

#include "scaler/formula/ast.h"
#include "scaler/formula/error.h"
#include "scaler/formula/formula.h"

namespace nimscaler::formula::detail {

/// What the checker learned about a formula.
struct CheckedUses {
  std::vector<SignalUse> signals;  // sorted by name
  bool replicas = false;
  bool pods = false;
  std::vector<const Node*> trend_inputs;  // the x of each trend()/predict(), by slot
};

/// Checks and resolves `root`. Returns false and fills `failure` on the first error.
/// `signals` must hold valid, distinct names (Compile validates them).
bool Check(Node* root, const std::vector<SignalInfo>& signals, CheckedUses* uses, Failure* failure);

}  // namespace nimscaler::formula::detail
