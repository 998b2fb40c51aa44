#pragma once
// Internal: formula text -> syntax tree (ops kNumber, kIdent, kCall and the operators),
// enforcing Options::max_length, max_depth and max_identifiers.

#include <string_view>

#include "scaler/formula/ast.h"
#include "scaler/formula/error.h"
#include "scaler/formula/formula.h"

namespace nimscaler::formula::detail {

/// Parses `text`. Returns null and fills `failure` on the first error.
NodePtr Parse(std::string_view text, const Options& options, Failure* failure);

}  // namespace nimscaler::formula::detail
