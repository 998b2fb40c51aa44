#pragma once
// Number grammar of the exposition formats: sample values (Go strconv.ParseFloat decimal
// syntax plus the Inf/NaN spellings, without hex floats or '_'), 0.0.4 integer timestamps,
// and OpenMetrics float timestamps. Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string_view>

namespace nimscaler::exposition {

/// Parses a whole token as a float64 the way Prometheus does: optional sign, decimal digits
/// with an optional '.' and exponent, or Inf/Infinity (signed) and NaN (unsigned), case-
/// insensitively. Rejects hex, '_', empty input, trailing bytes, and overflow ("1e400").
/// Underflow yields 0 or a subnormal, as in Go. Correctly rounded. Allocation-free.
std::optional<double> ParseFloat(std::string_view token);

/// Parses a whole token as a signed decimal int64 (0.0.4 timestamps in milliseconds).
std::optional<int64_t> ParseInt64(std::string_view token);

}  // namespace nimscaler::exposition
