#pragma once
// String helpers of the exposition formats: escape resolution for label values, quoted
// names and HELP text, and UTF-8 checks. Pure functions; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

#include "scaler/signals/exposition/types.h"

namespace nimscaler::exposition {

/// Resolves the escapes of a label value or quoted name: \\ -> \, \" -> ", \n -> LF. Any
/// other backslash pair is kept as written (as Prometheus textparse does). Appends to `out`.
void AppendUnescaped(std::string_view raw, std::string* out);

/// Resolves HELP escapes: 0.0.4 knows only \\ and \n; OpenMetrics also \". Others stay.
void UnescapeHelp(std::string_view raw, Format format, std::string* out);

/// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool IsValidUtf8(std::string_view s);

/// Number of code points in valid UTF-8 `s`.
size_t CountRunes(std::string_view s);

}  // namespace nimscaler::exposition
