// Exports ParseSelected(): a line-oriented parser for Prometheus text 0.0.4 samples.
#include "scaler/signals/exposition/parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "scaler/common/text.h"

namespace nimscaler::exposition {

std::string_view SeriesValue::Label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

std::string ParseError::ToString() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message +
         " in \"" + excerpt + "\"";
}

namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

struct LineParser {
  std::string_view line;
  size_t pos = 0;
  std::string error;

  void SkipSpaces() {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  }
  std::string_view Name() {
    size_t start = pos;
    if (pos < line.size() && IsNameStart(line[pos])) {
      while (pos < line.size() && IsNameChar(line[pos])) ++pos;
    }
    return line.substr(start, pos - start);
  }
  bool Fail(std::string msg) {
    error = std::move(msg);
    return false;
  }
  bool Labels(exposition::Labels* out) {
    ++pos;  // '{'
    while (true) {
      SkipSpaces();
      if (pos < line.size() && line[pos] == '}') {
        ++pos;
        return true;
      }
      std::string_view key = Name();
      if (key.empty()) return Fail("expected label name");
      SkipSpaces();
      if (pos >= line.size() || line[pos] != '=') return Fail("expected '=' after label name");
      ++pos;
      SkipSpaces();
      if (pos >= line.size() || line[pos] != '"') return Fail("expected '\"' to open label value");
      ++pos;
      std::string value;
      while (true) {
        if (pos >= line.size()) return Fail("unterminated label value");
        char c = line[pos++];
        if (c == '"') break;
        if (c == '\\') {
          if (pos >= line.size()) return Fail("unterminated escape in label value");
          char e = line[pos++];
          value += e == 'n' ? '\n' : e;
        } else {
          value += c;
        }
      }
      out->emplace_back(std::string(key), std::move(value));
      SkipSpaces();
      if (pos < line.size() && line[pos] == ',') ++pos;
      else if (pos >= line.size() || line[pos] != '}') return Fail("expected ',' or '}' after label");
    }
  }
};

std::optional<double> ParseValue(std::string_view text) {
  if (text == "NaN" || text == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf" || text == "Inf" || text == "+inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf" || text == "-inf") return -std::numeric_limits<double>::infinity();
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<Selection> ParseSelected(std::string_view body, std::string_view /*content_type*/,
                                const std::vector<std::string>& wanted) {
  Selection sel;
  size_t line_no = 0;
  while (!body.empty()) {
    ++line_no;
    size_t nl = body.find('\n');
    std::string_view raw = body.substr(0, nl);
    body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    LineParser p{raw};
    p.SkipSpaces();
    if (p.pos >= raw.size() || raw[p.pos] == '#') continue;
    std::string_view name = p.Name();
    auto fail = [&](std::string msg) -> Result<Selection> {
      return InvalidArgument(ParseError{line_no, p.pos + 1, std::move(msg), Truncate(raw, 80)}.ToString());
    };
    if (name.empty()) return fail("expected metric name");
    if (sel.families.empty() || sel.families.back() != name) sel.families.emplace_back(name);
    bool keep = std::find(wanted.begin(), wanted.end(), name) != wanted.end();
    SeriesValue sv;
    p.SkipSpaces();
    if (p.pos < raw.size() && raw[p.pos] == '{') {
      if (!p.Labels(&sv.labels)) return fail(p.error);
    }
    p.SkipSpaces();
    size_t vstart = p.pos;
    while (p.pos < raw.size() && raw[p.pos] != ' ' && raw[p.pos] != '\t') ++p.pos;
    auto value = ParseValue(raw.substr(vstart, p.pos - vstart));
    if (!value) {
      p.pos = vstart;
      return fail("expected a number as sample value");
    }
    if (keep) {
      sv.name = std::string(name);
      sv.value = *value;
      sel.series.push_back(std::move(sv));
    }
  }
  std::sort(sel.families.begin(), sel.families.end());
  sel.families.erase(std::unique(sel.families.begin(), sel.families.end()), sel.families.end());
  return sel;
}

}  // namespace nimscaler::exposition
