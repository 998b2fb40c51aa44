#pragma once
// Internal to the exposition parser (parser.cc and its stage files): byte classes and the
// scanners every stage uses. Each scanner returns the first position in [p, eol) that ends
// the run it scans, or eol. With SSE2 (every x86-64) they test 16 bytes per step; the loads
// may run past eol (a line ends at its newline, and names and values are short, so most runs
// end in one step) but never past `limit`, the end of the body. Bytes past eol are ignored.
// Everything here is inline: it runs per byte or per name.

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "scaler/signals/exposition/escape.h"

namespace nimscaler::exposition::detail {

// Byte classes.
enum : uint8_t {
  kMetricStart = 1,  // [a-zA-Z_:]
  kMetricChar = 2,   // [a-zA-Z0-9_:]
  kLabelStart = 4,   // [a-zA-Z_]
  kLabelChar = 8,    // [a-zA-Z0-9_]
  kBlank = 16,       // ' ' '\t'
  kQuoteStop = 32,   // '"' '\\' and bytes >= 0x80 (inside a quoted string)
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    uint8_t v = 0;
    if (alpha || c == '_' || c == ':') v |= kMetricStart;
    if (alpha || digit || c == '_' || c == ':') v |= kMetricChar;
    if (alpha || c == '_') v |= kLabelStart;
    if (alpha || digit || c == '_') v |= kLabelChar;
    if (c == ' ' || c == '\t') v |= kBlank;
    if (c == '"' || c == '\\' || c >= 0x80) v |= kQuoteStop;
    t[static_cast<size_t>(c)] = v;
  }
  return t;
}
inline constexpr std::array<uint8_t, 256> kClass = MakeClasses();

inline bool Is(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }

inline bool IsBlank(char c) { return c == ' ' || c == '\t'; }

inline void SkipBlanks(const char*& p, const char* eol) {
  while (p < eol && IsBlank(*p)) ++p;
}

#if defined(__SSE2__)
inline __m128i Load16(const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

inline uint32_t Mask16(__m128i is) { return static_cast<uint32_t>(_mm_movemask_epi8(is)); }

// Bytes of x in [lo, lo + n): one add and one signed compare (the add moves the range to the
// bottom of the signed byte range).
inline __m128i InRange(__m128i x, char lo, int n) {
  const __m128i shifted = _mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(128 - lo)));
  return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(-128 + n)));
}

// Bit i set when byte i is NOT a name byte: [a-zA-Z0-9_] plus ':' when `colon`.
template <bool kColon>
inline uint32_t NotNameMask(const char* p) {
  const __m128i x = Load16(p);
  const __m128i alpha = InRange(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 26);
  const __m128i digit = InRange(x, '0', 10);
  __m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
  if (kColon) ok = _mm_or_si128(ok, _mm_cmpeq_epi8(x, _mm_set1_epi8(':')));
  return ~Mask16(ok) & 0xFFFFu;
}

// Bit i set when byte i is '"', '\\' or >= 0x80.
template <bool kNewline>
inline uint32_t QuoteStopMask(const char* p) {
  const __m128i x = Load16(p);
  __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
  if (kNewline) hit = _mm_or_si128(hit, _mm_cmpeq_epi8(x, _mm_set1_epi8('\n')));
  return Mask16(_mm_or_si128(hit, x));  // x contributes its top bit: bytes >= 0x80
}
#endif

// Over name bytes: metric names ([a-zA-Z0-9_:]) when kColon, label names otherwise.
template <bool kColon>
__attribute__((always_inline)) inline const char* SkipName(const char* p, const char* eol, const char* limit) {
#if defined(__SSE2__)
  // No `p < eol` test per step: the byte at eol is '\n' or '\r' (never a name byte) unless
  // eol == limit, so a run always stops by eol; the result is still clamped to eol.
  while (limit - p >= 16) {
    if (const uint32_t m = NotNameMask<kColon>(p)) {
      p += __builtin_ctz(m);
      return p < eol ? p : eol;
    }
    p += 16;
  }
  if (p >= eol) return eol;
#else
  (void)limit;
#endif
  const uint8_t cls = kColon ? kMetricChar : kLabelChar;
  while (p < eol && Is(*p, cls)) ++p;
  return p;
}

// Up to the next '"', '\\' or non-ASCII byte (inside a quoted string), and also '\n' when
// kNewline (for callers that do not know where the line ends).
template <bool kNewline = false>
__attribute__((always_inline)) inline const char* FindQuoteStop(const char* p, const char* eol, const char* limit) {
#if defined(__SSE2__)
  while (p < eol && limit - p >= 16) {
    if (const uint32_t m = QuoteStopMask<kNewline>(p)) {
      p += __builtin_ctz(m);
      return p < eol ? p : eol;
    }
    p += 16;
  }
  if (p >= eol) return eol;
#else
  (void)limit;
#endif
  while (p < eol && !Is(*p, kQuoteStop) && !(kNewline && *p == '\n')) ++p;
  return p;
}

// Up to the first '\n' or byte >= 0x80 in [p, end); end when none.
__attribute__((always_inline)) inline const char* FindNewlineOrHigh(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i x = Load16(p);
    if (const uint32_t m = Mask16(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\n')), x))) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
#endif
  while (p < end && *p != '\n' && static_cast<unsigned char>(*p) < 0x80) ++p;
  return p;
}

// Bytewise equality for short runs (names): no call; 16 bytes per step with SSE2, and the
// last partial step overlaps the previous one instead of looping over single bytes.
__attribute__((always_inline)) inline bool SameBytes(const char* a, const char* b, size_t n) {
#if defined(__SSE2__)
  if (n >= 16) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      if (Mask16(_mm_cmpeq_epi8(Load16(a + i), Load16(b + i))) != 0xFFFFu) return false;
    }
    return i == n || Mask16(_mm_cmpeq_epi8(Load16(a + n - 16), Load16(b + n - 16))) == 0xFFFFu;
  }
#endif
  if (n >= 8) {
    uint64_t x0, y0, x1, y1;
    std::memcpy(&x0, a, 8);
    std::memcpy(&y0, b, 8);
    std::memcpy(&x1, a + n - 8, 8);
    std::memcpy(&y1, b + n - 8, 8);
    if (n <= 16) return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    while (n > 16) {  // without SSE2
      if (x0 != y0) return false;
      a += 8;
      b += 8;
      n -= 8;
      std::memcpy(&x0, a, 8);
      std::memcpy(&y0, b, 8);
    }
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  if (n >= 4) {
    uint32_t x0, y0, x1, y1;
    std::memcpy(&x0, a, 4);
    std::memcpy(&y0, b, 4);
    std::memcpy(&x1, a + n - 4, 4);
    std::memcpy(&y1, b + n - 4, 4);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && SameBytes(s.data(), prefix.data(), prefix.size());
}

// ASCII fast path before the full UTF-8 check.
inline bool Utf8Ok(std::string_view s) {
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= s.size(); i += 16) {
    if (Mask16(Load16(s.data() + i)) != 0) return IsValidUtf8(s.substr(i));
  }
#endif
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) return IsValidUtf8(s.substr(i));
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return IsValidUtf8(s.substr(i));
  }
  return true;
}

// `s` equals the literal `lit` (inlined: the length is a constant).
template <size_t N>
inline bool Eq(std::string_view s, const char (&lit)[N]) {
  return s.size() == N - 1 && std::memcmp(s.data(), lit, N - 1) == 0;
}

}  // namespace nimscaler::exposition::detail
