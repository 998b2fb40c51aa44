// Exports detail::FormatFailure: the "formula:1:14: message / line / caret" rendering.
#include "scaler/formula/error.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace nimscaler::formula::detail {
namespace {

// Lines longer than this are cut around the error so the message stays readable in an event.
constexpr size_t kMaxShown = 100;
constexpr size_t kContextBefore = 60;

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string FormatFailure(std::string_view text, const Failure& failure) {
  size_t pos = std::min(failure.pos, text.size());
  size_t newline = text.substr(0, pos).rfind('\n');
  size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
  size_t line_no =
      1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(line_start), '\n'));
  size_t line_end = text.find('\n', line_start);
  if (line_end == std::string_view::npos) line_end = text.size();
  size_t column = pos - line_start + 1;

  // Window of the line to show.
  size_t shown_start = line_start;
  size_t shown_end = line_end;
  if (line_end - line_start > kMaxShown) {
    shown_start = pos > line_start + kContextBefore ? pos - kContextBefore : line_start;
    shown_end = std::min(line_end, shown_start + kMaxShown);
  }
  std::string shown;
  std::string caret;
  if (shown_start > line_start) {
    shown += "...";
    caret += "   ";
  }
  for (size_t i = shown_start; i < shown_end; ++i) {
    char c = text[i];
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
    if (c == '\r' && i + 1 == shown_end) break;
    shown += c;
    if (i < pos && !IsContinuationByte(text[i])) caret += ' ';
  }
  if (shown_end < line_end) shown += "...";
  caret += "^ near here";

  std::string out = "formula:" + std::to_string(line_no) + ":" + std::to_string(column) + ": " + failure.message;
  out += "\n";
  out += shown;
  out += "\n";
  out += caret;
  return out;
}

std::string FormatNumber(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  // Fixed notation for ordinary magnitudes reads best in a formula; the shortest round-trip
  // form (which may use an exponent) otherwise.
  double a = std::fabs(v);
  auto format = (a == 0 || (a >= 1e-6 && a < 1e15)) ? std::chars_format::fixed : std::chars_format::general;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, format);
  if (ec != std::errc()) return "?";
  return std::string(buf, end);
}

}  // namespace nimscaler::formula::detail
