#pragma once
// Number grammar of the exposition formats: sample values (Go strconv.ParseFloat decimal
// syntax plus the Inf/NaN spellings, without hex floats or '_'), 0.0.4 integer timestamps,
// and OpenMetrics float timestamps. Pure functions; thread-safe.
//
// ParseDecimalPrefix is a hot loop kept whole although over 80 lines (issue 17): inline here so
// the parser's fast path compiles it into its own loop, once per sample.

#include <cstddef>
#include <cstdint>
#include <cstring>
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
/// `limit` (>= end; null means `end`) is how far the bytes may be loaded: digits are read
/// eight at a time when eight bytes are readable, and bytes past `end` are ignored.
inline const char* ParseDecimalPrefix(const char* p, const char* end, double* out, const char* limit = nullptr);

/// Parses a whole token as a signed decimal int64 (0.0.4 timestamps in milliseconds).
std::optional<int64_t> ParseInt64(std::string_view token);

// ------------------------------------------------------------------------------------------
// Inline definitions (ParseDecimalPrefix runs once per sample line).

namespace detail {

inline constexpr double kPow10Double[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                          1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

inline bool IsDecimalDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

inline constexpr uint64_t kPow10Int[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

// Value of the n (1..8) decimal digits in the low bytes of `w` (first digit in the lowest
// byte, as loaded from memory on a little-endian machine), each already minus '0'.
inline uint64_t EightDigitsValue(uint64_t w, size_t n) {
  w <<= 8 * (8 - n);  // the digits to the top bytes; the zero bytes below act as leading zeros
  w = (w * 10 + (w >> 8)) & 0x00FF00FF00FF00FFull;    // 2-digit lanes: d0 * 10 + d1
  w = (w * 100 + (w >> 16)) & 0x0000FFFF0000FFFFull;  // 4-digit lanes: p0 * 100 + p1
  return (w * 10000 + (w >> 32)) & 0xFFFFFFFFull;     // 8 digits: q0 * 10000 + q1
}

// Reads the run of decimal digits at q (stopping at `end`), accumulating into *mantissa
// (it wraps after 19 digits; callers count digits and reject that). With 8 readable bytes
// (up to `limit`) it classifies and converts 8 digits per step.
__attribute__((always_inline)) inline const char* Digits(const char* q, const char* end, const char* limit,
                                                         uint64_t* mantissa) {
  uint64_t m = *mantissa;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  while (limit - q >= 8) {
    uint64_t w;
    std::memcpy(&w, q, 8);
    // Top bit of each byte that is not '0'..'9': >= 0x80, > '9' (the add reaches 0x80), or
    // < '0' (the subtract borrows). Carries and borrows only travel to later bytes, which
    // lie after the first flagged one, so the lowest flag is exact.
    const uint64_t not_digit = (w | (w + 0x4646464646464646ull) | (w - 0x3030303030303030ull)) & 0x8080808080808080ull;
    size_t n = not_digit != 0 ? static_cast<size_t>(__builtin_ctzll(not_digit)) >> 3 : 8;
    if (n > static_cast<size_t>(end - q)) n = static_cast<size_t>(end - q);
    if (n == 0) break;
    m = m * kPow10Int[n] + EightDigitsValue(w - 0x3030303030303030ull, n);
    q += n;
    if (n < 8) {
      *mantissa = m;
      return q;
    }
  }
#else
  (void)limit;
#endif
  while (q < end && IsDecimalDigit(*q)) {
    m = m * 10 + static_cast<uint64_t>(*q - '0');
    ++q;
  }
  *mantissa = m;
  return q;
}

// Top bit set in each byte of `w` that is not '0'..'9'. Exact for every byte: no carry or
// borrow crosses a byte (unlike the add/subtract test in Digits).
inline uint64_t NotDigitBytes(uint64_t w) {
  const uint64_t high = (w & 0xF0F0F0F0F0F0F0F0ull) ^ 0x3030303030303030ull;  // nibble != 3
  const uint64_t low =                                                        // low nibble >= 10: adding 6 reaches 0x10
      ((w & 0x0F0F0F0F0F0F0F0Full) + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull;
  const uint64_t x = high | low;  // non-zero bytes are not digits
  return (((x & 0x7F7F7F7F7F7F7F7Full) + 0x7F7F7F7F7F7F7F7Full) | x) & 0x8080808080808080ull;
}

}  // namespace detail

__attribute__((always_inline)) inline const char* ParseDecimalPrefix(const char* p, const char* end, double* out,
                                                                     const char* limit) {
  if (limit == nullptr) limit = end;
  const char* q = p;
  bool negative = false;
  if (q < end && (*q == '-' || *q == '+')) {
    negative = *q == '-';
    ++q;
  }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  // Whole number in one 8-byte word: "123" or "12.345" (at most 7 digits and no exponent),
  // the usual sample value. Classify all 8 bytes at once, squeeze out the '.', convert.
  if (limit - q >= 8) {
    uint64_t w;
    std::memcpy(&w, q, 8);
    const uint64_t not_digit = detail::NotDigitBytes(w);
    const size_t avail = static_cast<size_t>(end - q);
    const size_t n1 = not_digit != 0 ? static_cast<size_t>(__builtin_ctzll(not_digit)) >> 3 : 0;
    if (n1 != 0 && n1 <= avail) {
      const char c1 = n1 < avail ? q[n1] : '\0';
      if (c1 == '.') {
        const uint64_t rest = not_digit & (not_digit - 1);  // flags after the '.'
        const size_t n2 = rest != 0 ? static_cast<size_t>(__builtin_ctzll(rest)) >> 3 : 8;
        const char c2 = n2 < avail ? q[n2] : '\0';
        if (n2 < 8 && n2 <= avail && c2 != 'e' && c2 != 'E') {
          const uint64_t below = (uint64_t{1} << (8 * n1)) - 1;  // bytes before the '.'
          const uint64_t digits_only = (w & below) | ((w >> 8) & ~below);
          const uint64_t m = detail::EightDigitsValue(digits_only - 0x3030303030303030ull, n2 - 1);
          // m < 10^6 and at most 6 fraction digits: one exact, correctly rounded divide.
          const double v = static_cast<double>(m) / detail::kPow10Double[n2 - n1 - 1];
          *out = negative ? -v : v;
          return q + n2;
        }
      } else if (c1 != 'e' && c1 != 'E') {
        const double v = static_cast<double>(detail::EightDigitsValue(w - 0x3030303030303030ull, n1));
        *out = negative ? -v : v;
        return q + n1;
      }
    }
  }
#endif
  const char* digits_start = q;
  uint64_t mantissa = 0;
  q = detail::Digits(q, end, limit, &mantissa);
  ptrdiff_t digits = q - digits_start;
  if (digits == 0) return nullptr;  // ".5", "Inf", "NaN", garbage: the general path
  ptrdiff_t frac = 0;
  if (q < end && *q == '.') {
    ++q;
    const char* frac_start = q;
    q = detail::Digits(q, end, limit, &mantissa);
    frac = q - frac_start;
    digits += frac;
  }
  // 19 digits cannot overflow 64 bits; more may have wrapped, so they take the slow path.
  if (digits > 19) return nullptr;
  int64_t exp10 = -frac;
  if (q < end && (*q == 'e' || *q == 'E')) {
    ++q;
    bool exp_negative = false;
    if (q < end && (*q == '+' || *q == '-')) {
      exp_negative = *q == '-';
      ++q;
    }
    const char* exp_start = q;
    int64_t e = 0;
    while (q < end && detail::IsDecimalDigit(*q) && q - exp_start < 4) {
      e = e * 10 + (*q - '0');
      ++q;
    }
    if (q == exp_start || (q < end && detail::IsDecimalDigit(*q))) return nullptr;
    exp10 += exp_negative ? -e : e;
  }
  if (mantissa >= (uint64_t{1} << 53)) return nullptr;
  double v;
  if (mantissa == 0) {
    v = 0.0;
  } else if (exp10 >= 0) {
    if (exp10 > 22) return nullptr;
    v = static_cast<double>(mantissa) * detail::kPow10Double[exp10];
  } else {
    if (exp10 < -22) return nullptr;
    v = static_cast<double>(mantissa) / detail::kPow10Double[-exp10];
  }
  *out = negative ? -v : v;
  return q;
}

}  // namespace nimscaler::exposition
