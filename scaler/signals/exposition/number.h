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

/// The fast path of ParseFloat for the common shapes of sample values, reading straight from
/// the line: `[+-]digits[.digits][(e|E)[+-]digits]` whose mantissa (all its digits, leading
/// zeros included, at most 19) is below 2^53 and whose decimal exponent is within +-22, so
/// one IEEE multiply or divide gives the correctly rounded result. Reads from `p` up to
/// `end` and returns where the number stops, storing the value in `*out`; returns nullptr
/// (and leaves `*out` alone) when the text does not have that shape, and then the caller
/// must cut the whole token and call ParseFloat. When the returned position is the end of
/// the token, `*out` is bit-identical to what ParseFloat returns for that token.
const char* ParseDecimalPrefix(const char* p, const char* end, double* out);

/// Parses a whole token as a signed decimal int64 (0.0.4 timestamps in milliseconds).
std::optional<int64_t> ParseInt64(std::string_view token);

}  // namespace nimscaler::exposition
