// Exports the helpers declared in text.h.
#include "scaler/common/text.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace nimscaler {

std::string_view Trim(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  return text.substr(b, e - b);
}

std::string ToLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<double> ParseDouble(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::optional<bool> ParseBool(std::string_view text) {
  std::string t = ToLower(Trim(text));
  if (t == "true" || t == "1") return true;
  if (t == "false" || t == "0") return false;
  return std::nullopt;
}

std::optional<Duration> ParseDuration(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  double total_ns = 0;
  while (!text.empty()) {
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == 0) return std::nullopt;
    double n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, n);
    if (ec != std::errc() || ptr != text.data() + i) return std::nullopt;
    text.remove_prefix(i);
    size_t u = 0;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) ++u;
    std::string_view unit = text.substr(0, u);
    text.remove_prefix(u);
    double scale = 0;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us" || unit == "µs")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else
      return std::nullopt;  // includes a bare number with no unit
    total_ns += n * scale;
  }
  if (!std::isfinite(total_ns) || total_ns > 1e18) return std::nullopt;
  return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(static_cast<int64_t>(total_ns)));
}

std::string FormatDuration(Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  std::string out;
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
  }
  if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  if (s > 0 || out.empty()) out += std::to_string(s) + "s";
  return out;
}

std::vector<std::string> SplitTrimmed(std::string_view text, char sep) {
  std::vector<std::string> out;
  while (true) {
    size_t pos = text.find(sep);
    std::string_view piece = Trim(text.substr(0, pos));
    if (!piece.empty()) out.emplace_back(piece);
    if (pos == std::string_view::npos) break;
    text.remove_prefix(pos + 1);
  }
  return out;
}

namespace {
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::optional<std::string> SuggestClosest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string w = ToLower(word);
  std::optional<std::string> best;
  size_t best_d = std::max<size_t>(1, w.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = EditDistance(w, ToLower(c));
    // A candidate that contains the word (or vice versa) is a plausible intent too.
    if (d >= best_d && !w.empty() && ToLower(c).find(w) != std::string::npos) d = best_d - 1;
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

namespace {

// Length of the well-formed UTF-8 sequence at the start of `text` (1-4), or 0 when the first
// byte does not start one. Follows RFC 3629's table: the second byte's range depends on the
// first, which excludes overlong forms, surrogates and code points above U+10FFFF.
size_t Utf8SequenceLength(std::string_view text) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < len) return 0;
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return len;
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7F; }

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

std::string Truncate(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  // Find the start of the sequence holding byte `max` (at most 3 bytes back); cut there
  // when that sequence is well-formed and would be split.
  size_t cut = max;
  for (size_t back = 1; back <= 3 && back <= max; ++back) {
    size_t start = max - back;
    unsigned char c = static_cast<unsigned char>(text[start]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    size_t len = Utf8SequenceLength(text.substr(start));
    if (len > back) cut = start;
    break;
  }
  return std::string(text.substr(0, cut)) + "...";
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8SequenceLength(text.substr(i));
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view text, bool replace_controls) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8SequenceLength(text.substr(i));
    if (len == 0 || (replace_controls && len == 1 && IsControl(static_cast<unsigned char>(text[i])))) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string Printable(std::string_view text, size_t max) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8SequenceLength(text.substr(i));
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (len == 0 || (len == 1 && IsControl(c))) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return Truncate(out, max);
}

bool ConstantTimeEquals(std::string_view secret, std::string_view presented) {
  // Every byte of `presented` is compared, whatever happened before; no early exit.
  volatile unsigned char diff = secret.size() == presented.size() ? 0 : 1;
  for (size_t i = 0; i < presented.size(); ++i) {
    unsigned char s = secret.empty() ? 0 : static_cast<unsigned char>(secret[i % secret.size()]);
    diff = static_cast<unsigned char>(diff | (s ^ static_cast<unsigned char>(presented[i])));
  }
  return diff == 0;
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string FormatDouble(double v) {
  char buf[64];
  // Shortest round-trip form; plain decimals for the magnitudes people read (0.0001, 1000).
  double mag = std::fabs(v);
  bool fixed = mag == 0 || (mag >= 1e-6 && mag < 1e15);
  auto [end, ec] = fixed ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                         : std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

void AppendKeyField(std::string* key, std::string_view value) {
  *key += std::to_string(value.size());
  *key += ':';
  *key += value;
}

}  // namespace nimscaler
