// Exports ParseFloat(), ParseDecimalPrefix() and ParseInt64(): the exposition number
// grammar. Short decimals take an exact fast path (a mantissa < 2^53 and a power of ten
// <= 1e22 are both exact doubles, so one IEEE multiply or divide is correctly rounded);
// everything else goes to from_chars.
//
// ParseFloat is a hot loop kept whole although over 80 lines (issue 17): it runs once per
// sample, one pass over the value's bytes with its state in locals.
#include "scaler/signals/exposition/number.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

namespace nimscaler::exposition {
namespace {

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != lower[i]) return false;
  }
  return true;
}

inline bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// Slow path for tokens the fast path cannot do exactly. `body` has no sign.
std::optional<double> SlowParse(std::string_view body, bool negative) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (ptr != body.data() + body.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // from_chars does not say whether it over- or underflowed; strtod does, and gives the
    // subnormal or zero that Go returns on underflow. Rare, so the copy does not matter.
    char small[128];
    std::string big;
    const char* cstr;
    if (body.size() < sizeof small) {
      std::memcpy(small, body.data(), body.size());
      small[body.size()] = '\0';
      cstr = small;
    } else {
      big.assign(body);
      cstr = big.c_str();
    }
    errno = 0;
    v = std::strtod(cstr, nullptr);
    if (std::isinf(v)) return std::nullopt;  // overflow: Go's ErrRange
  } else if (ec != std::errc()) {
    return std::nullopt;
  }
  return negative ? -v : v;
}

}  // namespace

std::optional<double> ParseFloat(std::string_view token) {
  if (token.empty()) return std::nullopt;
  {
    double fast;
    const char* end = token.data() + token.size();
    if (ParseDecimalPrefix(token.data(), end, &fast) == end) return fast;
  }
  size_t i = 0;
  bool negative = false;
  if (token[0] == '+' || token[0] == '-') {
    negative = token[0] == '-';
    i = 1;
  }
  const size_t start = i;
  const size_t n = token.size();
  // Mantissa digits, at most 19 accumulated exactly.
  uint64_t mantissa = 0;
  int digits = 0;       // significant digits accumulated (leading zeros skipped)
  int dropped = 0;      // integer digits beyond 19 (scale up)
  int frac_digits = 0;  // digits after '.' that were accumulated
  bool any_digit = false;
  while (i < n && IsDigit(token[i])) {
    any_digit = true;
    if (mantissa == 0 && token[i] == '0') {
      ++i;
      continue;
    }
    if (digits < 19) {
      mantissa = mantissa * 10 + static_cast<uint64_t>(token[i] - '0');
      ++digits;
    } else {
      ++dropped;
    }
    ++i;
  }
  if (i < n && token[i] == '.') {
    ++i;
    while (i < n && IsDigit(token[i])) {
      any_digit = true;
      if (mantissa == 0 && token[i] == '0') {
        ++frac_digits;
        ++i;
        continue;
      }
      if (digits < 19) {
        mantissa = mantissa * 10 + static_cast<uint64_t>(token[i] - '0');
        ++digits;
        ++frac_digits;
      } else {
        digits = 20;  // more than 19 significant digits: let the slow path round
      }
      ++i;
    }
  }
  if (!any_digit) {
    // Not a decimal: Inf/Infinity (sign allowed) or NaN (no sign), as Go's special().
    std::string_view word = token.substr(start);
    if (EqualsIgnoreCase(word, "inf") || EqualsIgnoreCase(word, "infinity")) {
      return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    }
    if (start == 0 && EqualsIgnoreCase(word, "nan")) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    return std::nullopt;
  }
  int64_t exp10 = 0;
  if (i < n && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < n && (token[i] == '+' || token[i] == '-')) {
      exp_negative = token[i] == '-';
      ++i;
    }
    if (i >= n || !IsDigit(token[i])) return std::nullopt;
    while (i < n && IsDigit(token[i])) {
      if (exp10 < 100000) exp10 = exp10 * 10 + (token[i] - '0');
      ++i;
    }
    if (exp_negative) exp10 = -exp10;
  }
  if (i != n) return std::nullopt;  // trailing garbage, hex, '_' ...
  if (digits <= 15 && dropped == 0) {
    const int64_t e = exp10 - frac_digits;
    const double m = static_cast<double>(mantissa);
    if (mantissa == 0) return negative ? -0.0 : 0.0;
    if (e >= 0 && e <= 22) {
      const double v = m * detail::kPow10Double[e];
      return negative ? -v : v;
    }
    if (e < 0 && e >= -22) {
      const double v = m / detail::kPow10Double[-e];
      return negative ? -v : v;
    }
  }
  return SlowParse(token.substr(start), negative);
}

std::optional<int64_t> ParseInt64(std::string_view token) {
  if (!token.empty() && token[0] == '+') {
    token.remove_prefix(1);
    if (!token.empty() && (token[0] == '-' || token[0] == '+')) return std::nullopt;
  }
  if (token.empty()) return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || ptr != token.data() + token.size()) return std::nullopt;
  return v;
}

}  // namespace nimscaler::exposition
