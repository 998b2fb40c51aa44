#pragma once
// Internal: a positioned formula error and its ninja-style rendering.

#include <cstddef>
#include <string>
#include <string_view>

namespace nimscaler::formula::detail {

/// Where a formula went wrong (byte offset into the text) and what went wrong.
struct Failure {
  size_t pos = 0;
  std::string message;
};

/// Renders a failure as three lines:
///   formula:LINE:COL: MESSAGE
///   the line of the formula holding the error (cut around the error when long)
///   a caret under the column, followed by " near here"
/// Control characters in the echoed line become spaces so the caret stays aligned; UTF-8
/// continuation bytes take no caret column.
std::string FormatFailure(std::string_view text, const Failure& failure);

/// The shortest text that reads back as `v`, without an exponent for ordinary magnitudes:
/// "1000", "0.95", "0.00025", "1e+300". Used by Dump(), messages and DefaultFormula().
std::string FormatNumber(double v);

}  // namespace nimscaler::formula::detail
