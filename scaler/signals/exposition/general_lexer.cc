// The general lexer of the exposition parser (parser_impl.h): every line the fast path does
// not take, in either format (blanks, quoted UTF-8 names, escapes, exemplars, OpenMetrics
// timestamps, CRLF, comments, errors), read from the line's start with the error messages
// users see.
//
// Hot loops kept whole although over 80 lines (issue 17): GeneralSampleLine and ParseLabels
// run once per line or label; each is one pass over the bytes with its state in locals, and
// splitting them moves that state through memory on every line.
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "scaler/signals/exposition/parser_impl.h"

namespace nimscaler::exposition {

using namespace detail;  // NOLINT(google-build-using-namespace): the parser's own internals

// Scans a quoted string starting at '"'. On success `raw` excludes the quotes and p is
// past the closing quote.
bool Parser::Impl::ScanQuoted(const char*& p, const char* eol, std::string_view* raw, bool* escaped, const char* what) {
  const char* open = p;
  ++p;
  const char* v = p;
  bool esc = false;
  bool non_ascii = false;
  for (;;) {
    p = FindQuoteStop<false>(p, eol, body_end);
    if (p >= eol) return Fail(open, std::string("unterminated ") + what);
    const char c = *p;
    if (c == '"') break;
    if (c == '\\') {
      esc = true;
      if (p + 1 >= eol) return Fail(p, std::string("unterminated ") + what);
      if (strict && !om && p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
        return Fail(p, "invalid escape sequence");
      }
      p += 2;
      continue;
    }
    non_ascii = true;
    ++p;
  }
  *raw = std::string_view(v, static_cast<size_t>(p - v));
  ++p;
  if (non_ascii && !IsValidUtf8(*raw)) return Fail(v, std::string("invalid UTF-8 in ") + what);
  *escaped = esc;
  return true;
}

// Parses "{...}" at p. `name_out` (may be null) receives a quoted metric name found in the
// braces; `name_set` says whether a name is already known.
bool Parser::Impl::ParseLabels(const char*& p, const char* eol, std::vector<Label>& out, std::vector<uint8_t>& flags,
                               std::string_view* name_out, bool name_set, bool* name_transient, uint8_t* flags_or) {
  ++p;
  if (!om) SkipBlanks(p, eol);
  if (p < eol && *p == '}') {
    ++p;
    return true;
  }
  for (;;) {
    if (p >= eol) return Fail(p, "unexpected end of label set");
    std::string_view lname;
    uint8_t lflags = 0;
    if (*p == '"') {
      const char* q = p;
      bool esc = false;
      if (!ScanQuoted(p, eol, &lname, &esc, "quoted name")) return false;
      if (!om) SkipBlanks(p, eol);
      if (p < eol && (*p == ',' || *p == '}')) {
        // A lone quoted string is the metric name (text 1.0.0 / OpenMetrics UTF-8).
        if (name_out == nullptr) return Fail(q, "a metric name is not allowed here");
        if (name_set) return Fail(q, "metric name already set");
        if (lname.empty()) return Fail(q, "empty metric name");
        name_set = true;
        if (esc) {
          name_scratch.clear();
          AppendUnescaped(lname, &name_scratch);
          *name_out = name_scratch;
          *name_transient = true;
        } else {
          *name_out = lname;
        }
        goto separator;
      }
      if (lname.empty()) return Fail(q, "empty label name");
      if (esc) lflags |= kNameEscaped;
    } else if (Is(*p, kLabelStart)) {
      const char* s = p;
      p = SkipName<false>(p + 1, eol, body_end);
      lname = std::string_view(s, static_cast<size_t>(p - s));
    } else {
      return Fail(p, "expected label name");
    }
    // The expected byte is checked first: blanks (0.0.4 only) are rare.
    if (p >= eol || *p != '=') {
      if (!om) SkipBlanks(p, eol);
      if (p >= eol || *p != '=') return Fail(p, "expected '=' after label name");
    }
    ++p;
    if (p >= eol || *p != '"') {
      if (!om) SkipBlanks(p, eol);
      if (p >= eol || *p != '"') return Fail(p, "expected '\"' to open label value");
    }
    {
      std::string_view raw;
      bool esc = false;
      if (!ScanQuoted(p, eol, &raw, &esc, "label value")) return false;
      if (esc) lflags |= kValueEscaped;
      if (out.size() >= opt.max_labels) return Fail(p, "too many labels");
      out.push_back(Label{lname, raw});
      flags.push_back(lflags);
      *flags_or |= lflags;
    }
  separator:
    if (!om && p < eol && IsBlank(*p)) SkipBlanks(p, eol);
    if (p >= eol) return Fail(p, "unexpected end of label set");
    if (*p == ',') {
      ++p;
      if (!om) SkipBlanks(p, eol);
      if (p < eol && *p == '}') {
        if (om && strict) return Fail(p, "trailing comma in label set");
        ++p;
        return true;
      }
      continue;
    }
    if (*p == '}') {
      ++p;
      return true;
    }
    // textparse reads `{a="b" c="d"}` (no comma) in 0.0.4; expfmt and OpenMetrics do not.
    if (!om && !strict && (Is(*p, kLabelStart) || *p == '"')) continue;
    return Fail(p, "expected ',' or '}' after label");
  }
}

// Replaces escaped label names/values with unescaped copies in `scratch`.
void Parser::Impl::Unescape(std::vector<Label>& ls, const std::vector<uint8_t>& fl) {
  for (size_t i = 0; i < ls.size(); ++i) {
    if (fl[i] == 0) continue;
    if (fl[i] & kNameEscaped) {
      const size_t start = scratch.size();
      AppendUnescaped(ls[i].name, &scratch);
      ls[i].name = std::string_view(scratch.data() + start, scratch.size() - start);
    }
    if (fl[i] & kValueEscaped) {
      const size_t start = scratch.size();
      AppendUnescaped(ls[i].value, &scratch);
      ls[i].value = std::string_view(scratch.data() + start, scratch.size() - start);
    }
  }
}

bool Parser::Impl::GeneralSampleLine(const char* p, const char* eol) {
  const char* s = p;
  std::string_view name;
  bool name_known = false;
  bool name_transient = false;
  if (Is(*p, kMetricStart)) {
    p = SkipName<true>(p + 1, eol, body_end);
    name = std::string_view(s, static_cast<size_t>(p - s));
    name_known = true;
    if (!ResolveFamily(name, false)) return false;
    if (!opt.validate_unselected && !sel->selects_all()) {
      Report();
      if (fam.entry < 0 && (!sel->has_sample_entries() || sel->FindSample(name) < 0)) {
        ++stats.samples;
        fam.has_samples = true;
        return true;  // skipped without looking further
      }
    }
  } else if (*p != '{') {
    return Fail(p, "expected metric name");
  }
  labels.clear();
  label_flags.clear();
  uint8_t flags_or = 0;  // any escaped label name or value on this line
  // Unescaped text of this line never exceeds the line, so reserving that much up front
  // keeps every view into `scratch` stable while the line is processed.
  scratch.clear();
  const size_t line_len = static_cast<size_t>(line_end - line_begin);
  if (scratch.capacity() < line_len) scratch.reserve(line_len);
  const char* after_name = p;
  if (!om) SkipBlanks(p, eol);
  const bool had_blank = p > after_name;
  const bool braces = p < eol && *p == '{';
  if (braces) {
    if (!ParseLabels(p, eol, labels, label_flags, &name, name_known, &name_transient, &flags_or)) {
      return false;
    }
    if (!name_known) {
      if (name.empty()) return Fail(s, "metric name not set");
      if (!ResolveFamily(name, name_transient)) return false;
    }
  } else if (!name_known) {
    return Fail(p, "expected metric name");
  }
  // `name{labels}` as written; without braces just the name (not the blanks after it).
  const std::string_view series(s, static_cast<size_t>((braces ? p : after_name) - s));

  // Separator and value.
  if (om) {
    if (p >= eol || *p != ' ') return Fail(p, "expected ' ' and a value after the metric");
    ++p;
  } else {
    const char* before = p;
    SkipBlanks(p, eol);
    if (p == before && !had_blank && !braces) return Fail(p, "expected a value after the metric");
  }
  const char* vs = p;
  std::optional<double> value;
  {
    // Plain decimals are converted straight from the line; anything else (or a number
    // that runs into other bytes) is cut as a token and goes through ParseFloat.
    double fast;
    const char* q = ParseDecimalPrefix(vs, eol, &fast, body_end);
    if (q != nullptr && (q == eol || *q == ' ' || (!om && *q == '\t'))) {
      p = q;
      value = fast;
    } else {
      if (om) {
        while (p < eol && *p != ' ') ++p;
      } else {
        while (p < eol && !IsBlank(*p)) ++p;
      }
      if (p == vs) return Fail(vs, "expected a value after the metric");
      value = ParseFloat(std::string_view(vs, static_cast<size_t>(p - vs)));
      if (!value) return Fail(vs, "invalid sample value");
    }
  }

  // Timestamp and exemplar.
  std::optional<int64_t> ts_ms;
  std::optional<double> ts_s;
  bool has_exemplar = false;
  if (om) {
    if (p < eol) {
      ++p;  // the single space
      if (p >= eol) return Fail(p, "trailing space after value");
      if (*p != '#') {
        const char* ts = p;
        while (p < eol && *p != ' ') ++p;
        auto t = ParseFloat(std::string_view(ts, static_cast<size_t>(p - ts)));
        if (!t || !std::isfinite(*t)) return Fail(ts, "invalid timestamp");
        ts_s = *t;
        const double ms = std::trunc(*t * 1000.0);
        ts_ms = ms >= 9.2e18    ? std::numeric_limits<int64_t>::max()
                : ms <= -9.2e18 ? std::numeric_limits<int64_t>::min()
                                : static_cast<int64_t>(ms);
        if (p < eol) {
          ++p;
          if (p >= eol || *p != '#') return Fail(p, "expected an exemplar or the end of the line");
        }
      }
      if (p < eol) {
        if (!ParseExemplar(p, eol)) return false;
        has_exemplar = true;
      }
    }
  } else {
    SkipBlanks(p, eol);
    if (p < eol) {
      if (*p == '#') return Fail(p, "exemplars are only valid in OpenMetrics");
      const char* ts = p;
      while (p < eol && !Is(*p, kBlank)) ++p;
      auto t = ParseInt64(std::string_view(ts, static_cast<size_t>(p - ts)));
      if (!t) return Fail(ts, "invalid timestamp (want integer milliseconds)");
      ts_ms = *t;
      SkipBlanks(p, eol);
      if (p < eol) return Fail(p, "unexpected text after the timestamp");
    }
  }

  return FinishSample(s, vs, name, series, *value, ts_ms, ts_s, has_exemplar, flags_or);
}

bool Parser::Impl::ParseExemplar(const char*& p, const char* eol) {
  // At '#': "# {labels} value [timestamp]".
  if (eol - p < 3 || p[1] != ' ' || p[2] != '{') return Fail(p, "invalid exemplar: want \"# {labels} value\"");
  p += 2;
  ex_labels.clear();
  ex_flags.clear();
  bool unused = false;
  uint8_t unused_flags = 0;
  if (!ParseLabels(p, eol, ex_labels, ex_flags, nullptr, true, &unused, &unused_flags)) {
    return false;
  }
  if (p >= eol || *p != ' ') return Fail(p, "expected a value after exemplar labels");
  ++p;
  const char* vs = p;
  while (p < eol && *p != ' ') ++p;
  auto v = ParseFloat(std::string_view(vs, static_cast<size_t>(p - vs)));
  if (!v) return Fail(vs, "invalid exemplar value");
  exemplar.value = *v;
  exemplar.timestamp_seconds.reset();
  if (p < eol) {
    ++p;
    const char* ts = p;
    while (p < eol && *p != ' ') ++p;
    auto t = ParseFloat(std::string_view(ts, static_cast<size_t>(p - ts)));
    if (!t || !std::isfinite(*t)) return Fail(ts, "invalid exemplar timestamp");
    exemplar.timestamp_seconds = *t;
    if (p < eol) return Fail(p, "unexpected text after the exemplar");
  }
  for (size_t i = 1; i < ex_labels.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (ex_labels[i].name == ex_labels[j].name)
        return Fail(ex_labels[i].name.data(), "duplicate exemplar label name");
    }
  }
  Unescape(ex_labels, ex_flags);
  size_t runes = 0;
  for (const Label& l : ex_labels) runes += CountRunes(l.name) + CountRunes(l.value);
  if (runes > 128) return Fail(p, "exemplar labels exceed 128 characters");
  exemplar.labels = ex_labels;
  return true;
}

// Reads a metric name in a HELP/TYPE/UNIT line: bare or quoted.
bool Parser::Impl::MetaName(const char*& p, const char* eol, const char* what, std::string_view* name,
                            bool* transient) {
  *transient = false;
  if (p < eol && Is(*p, kMetricStart)) {
    const char* s = p;
    p = SkipName<true>(p + 1, eol, body_end);
    *name = std::string_view(s, static_cast<size_t>(p - s));
    return true;
  }
  if (p < eol && *p == '"') {
    std::string_view raw;
    bool esc = false;
    const char* q = p;
    if (!ScanQuoted(p, eol, &raw, &esc, "quoted name")) return false;
    if (raw.empty()) return Fail(q, std::string("expected metric name after ") + what);
    if (esc) {
      name_scratch.clear();
      AppendUnescaped(raw, &name_scratch);
      *name = name_scratch;
      *transient = true;
    } else {
      *name = raw;
    }
    return true;
  }
  return Fail(p, std::string("expected metric name after ") + what);
}

bool Parser::Impl::PromComment(const char* p, const char* eol) {
  ++p;  // '#'
  SkipBlanks(p, eol);
  if (eol - p < 5 || !Is(p[4], kBlank)) return true;  // a comment
  char kind;
  if (std::memcmp(p, "HELP", 4) == 0) {
    kind = 'H';
  } else if (std::memcmp(p, "TYPE", 4) == 0) {
    kind = 'T';
  } else {
    return true;  // a comment
  }
  const char* what = kind == 'H' ? "HELP" : "TYPE";
  p += 4;
  SkipBlanks(p, eol);
  // "# HELP" or "# TYPE" with nothing after them is a comment to expfmt and harmless.
  if (p == eol) return true;
  const char* at = p;
  std::string_view name;
  bool transient = false;
  if (!MetaName(p, eol, what, &name, &transient)) return false;
  if (p < eol && !Is(*p, kBlank)) return Fail(p, std::string("invalid metric name after ") + what);
  SkipBlanks(p, eol);
  if (kind == 'H') {
    std::string_view text(p, static_cast<size_t>(eol - p));
    if (!Utf8Ok(text)) return Fail(p, "invalid UTF-8 in HELP");
    return Metadata('H', name, transient, at, text, std::nullopt);
  }
  const char* ws = p;
  while (p < eol && !Is(*p, kBlank)) ++p;
  std::string_view word(ws, static_cast<size_t>(p - ws));
  if (word.empty()) return true;  // "# TYPE name": no type given, as expfmt reads it
  auto type = TypeFromWord(word, false);
  if (!type) return Fail(ws, "invalid metric type \"" + MakeExcerpt(word, 0) + "\"");
  SkipBlanks(p, eol);
  if (p < eol) return Fail(p, "unexpected text after the metric type");
  return Metadata('T', name, transient, at, {}, type);
}

bool Parser::Impl::OmComment(const char* p, const char* eol, bool* eof) {
  const std::string_view line(p, static_cast<size_t>(eol - p));
  if (line == "# EOF") {
    *eof = true;
    return true;
  }
  char kind;
  const char* what;
  if (StartsWith(line, "# HELP ")) {
    kind = 'H';
    what = "HELP";
  } else if (StartsWith(line, "# TYPE ")) {
    kind = 'T';
    what = "TYPE";
  } else if (StartsWith(line, "# UNIT ")) {
    kind = 'U';
    what = "UNIT";
  } else {
    return Fail(p, "expected \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\"");
  }
  p += 7;
  const char* at = p;
  std::string_view name;
  bool transient = false;
  if (!MetaName(p, eol, what, &name, &transient)) return false;
  if (p >= eol || *p != ' ') return Fail(p, std::string("expected ' ' and text after the name in ") + what);
  ++p;
  std::string_view text(p, static_cast<size_t>(eol - p));
  if (kind == 'H') {
    if (!Utf8Ok(text)) return Fail(p, "invalid UTF-8 in HELP");
    return Metadata('H', name, transient, at, text, std::nullopt);
  }
  if (kind == 'U') {
    for (const char* q = p; q < eol; ++q) {
      if (!Is(*q, kMetricChar)) return Fail(q, "invalid character in UNIT");
    }
    return Metadata('U', name, transient, at, text, std::nullopt);
  }
  auto type = TypeFromWord(text, true);
  if (!type) return Fail(p, "invalid metric type \"" + MakeExcerpt(text, 0) + "\"");
  return Metadata('T', name, transient, at, {}, type);
}

bool Parser::Impl::Line(const char* p, const char* eol, bool* eof) {
  if (om) {
    if (p == eol) return Fail(p, "blank lines are not allowed in OpenMetrics");
    if (*p == '#') return OmComment(p, eol, eof);
    return GeneralSampleLine(p, eol);
  }
  SkipBlanks(p, eol);
  if (p == eol) return true;
  if (*p == '#') return PromComment(p, eol);
  return GeneralSampleLine(p, eol);
}
}  // namespace nimscaler::exposition
