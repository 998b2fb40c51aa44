// The fast path of the exposition parser (parser_impl.h): most lines of a real body have one
// shape, `name{a="b",...} value` or `# HELP`/`# TYPE name ...` with single spaces, and are
// read here in one pass that also finds the line's end. Anything else goes back to the
// general lexer before any side effect that matters.
//
// Hot loop kept whole although over 80 lines (issue 17): FastSampleLine runs once per line,
// in one pass over the bytes with its state in locals; splitting it moves that state through
// memory on every line (the parser table in BENCHMARKS.md is the check).
#include <cstring>
#include <optional>

#include "scaler/signals/exposition/parser_impl.h"

namespace nimscaler::exposition {

using namespace detail;  // NOLINT(google-build-using-namespace): the parser's own internals

// The usual shape of a sample line, `name{a="b",c="d"} value` plus an optional 0.0.4
// integer timestamp, in one pass that also finds the line's end (so Run needs no memchr
// for it): single spaces, bare names, no exemplars, no OpenMetrics timestamps, no '\r'.
// It accepts a subset of what GeneralSampleLine accepts and reads it the same way.
// Anything else returns kFallback before any side effect that matters (only `role` and
// the label vectors, which the general path sets again), and Run hands the line to the
// general path, which reads it again from its start and reports any error. On kDone and
// kFailed, *eol_out is the line's end ('\n' or `end`) and line_end is set. The caller
// checked that *p starts a name; `end` is the end of the body.
Parser::Impl::Fast Parser::Impl::FastSampleLine(const char* p, const char* end, const char** eol_out) {
  const char* s = p;
  // Most samples continue the current family: compare the family name against the line
  // first (its bytes are known to be name bytes), then scan only the suffix. This is the
  // test ResolveFamily would make, done before lexing; `role` is its only side effect.
  bool resolved = false;
  bool prefix_tested = false;
  const size_t fam_len = fam.name.size();
  if (fam.active && fam.bare && static_cast<size_t>(end - p) > fam_len) {
    prefix_tested = true;
    if (SameBytes(p, fam.name.data(), fam_len)) {
      p = SkipName<true>(p + fam_len, end, end);
      const std::string_view suffix(s + fam_len, static_cast<size_t>(p - s) - fam_len);
      if (auto r = RoleFor(suffix, fam.type, om)) {
        role = *r;
        resolved = true;
      }
    } else {
      p = SkipName<true>(p + 1, end, end);
    }
  } else {
    p = SkipName<true>(p + 1, end, end);
  }
  const std::string_view name(s, static_cast<size_t>(p - s));
  labels.clear();
  label_flags.clear();
  uint8_t flags_or = 0;
  const size_t max_labels = opt.max_labels;
  size_t nlabels = 0;
  if (p < end && *p == '{') {
    ++p;
    if (p < end && *p == '}') {
      ++p;
    } else {
      for (;;) {
        if (p >= end || !Is(*p, kLabelStart)) return Fast::kFallback;
        const char* ln = p;
        p = SkipName<false>(p + 1, end, end);
        const std::string_view lname(ln, static_cast<size_t>(p - ln));
        if (end - p < 2 || p[0] != '=' || p[1] != '"') return Fast::kFallback;
        p += 2;
        const char* v = p;
        uint8_t lflags = 0;
        bool non_ascii = false;
        for (;;) {
          p = FindQuoteStop<true>(p, end, end);
          if (p >= end) return Fast::kFallback;
          const char c = *p;
          if (c == '"') break;
          if (c == '\n') return Fast::kFallback;  // unterminated on this line
          if (c == '\\') {
            if (p + 1 >= end || p[1] == '\n') return Fast::kFallback;
            if (strict && !om && p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
              return Fast::kFallback;
            }
            lflags = kValueEscaped;
            p += 2;
            continue;
          }
          non_ascii = true;
          ++p;
        }
        const std::string_view raw(v, static_cast<size_t>(p - v));
        ++p;
        if (non_ascii && !IsValidUtf8(raw)) return Fast::kFallback;
        if (nlabels >= max_labels) return Fast::kFallback;
        ++nlabels;
        labels.push_back(Label{lname, raw});
        label_flags.push_back(lflags);
        flags_or |= lflags;
        if (p >= end) return Fast::kFallback;
        if (*p == ',') {
          ++p;
          if (p < end && *p == '}') {
            if (om && strict) return Fast::kFallback;
            ++p;
            break;
          }
          continue;
        }
        if (*p != '}') return Fast::kFallback;
        ++p;
        break;
      }
    }
  }
  const std::string_view series(s, static_cast<size_t>(p - s));
  if (p >= end || *p != ' ') return Fast::kFallback;
  const char* vs = p + 1;
  double value;
  const char* q = ParseDecimalPrefix(vs, end, &value, end);
  if (q == nullptr || (q < end && *q != ' ' && *q != '\n')) {
    // NaN, +Inf, long mantissas: cut the token as the general path does.
    q = vs;
    while (q < end && !IsBlank(*q) && *q != '\n') ++q;
    if (q == vs || (q < end && *q == '\t')) return Fast::kFallback;
    const auto v = ParseFloat(std::string_view(vs, static_cast<size_t>(q - vs)));
    if (!v) return Fast::kFallback;
    value = *v;
  }
  std::optional<int64_t> ts_ms;
  if (q < end && *q == ' ') {
    if (om) return Fast::kFallback;  // OpenMetrics timestamp or exemplar
    const char* ts = q + 1;
    const char* te = ts;
    while (te < end && !IsBlank(*te) && *te != '\n') ++te;
    if (te == ts || (te < end && *te != '\n')) return Fast::kFallback;
    ts_ms = ParseInt64(std::string_view(ts, static_cast<size_t>(te - ts)));
    if (!ts_ms) return Fast::kFallback;
    q = te;
  }
  // q is at the newline or the end of the body.
  *eol_out = q;
  line_end = q;
  if (!resolved && !(prefix_tested ? ResolveNewFamily(name, false) : ResolveFamily(name, false))) {
    return Fast::kFailed;
  }
  if (flags_or != 0) {  // escapes are resolved into scratch (see GeneralSampleLine)
    scratch.clear();
    const size_t line_len = static_cast<size_t>(line_end - line_begin);
    if (scratch.capacity() < line_len) scratch.reserve(line_len);
  }
  return FinishSample(s, vs, name, series, value, ts_ms, std::nullopt, false, flags_or) ? Fast::kDone : Fast::kFailed;
}

// The usual metadata lines, "# HELP name text" and "# TYPE name type" with single spaces,
// a bare name and ASCII text, in one pass that also finds the line's end (HELP lines
// are the longest in a body). Same contract as FastSampleLine: a subset of what
// PromComment/OmComment accept, read the same way; kFallback before any side effect.
Parser::Impl::Fast Parser::Impl::FastMetaLine(const char* p, const char* end, const char** eol_out) {
  // "# HELP " or "# TYPE ", then a bare name.
  if (end - p < 8 || p[1] != ' ' || p[6] != ' ') return Fast::kFallback;
  char kind;
  if (std::memcmp(p + 2, "HELP", 4) == 0) {
    kind = 'H';
  } else if (std::memcmp(p + 2, "TYPE", 4) == 0) {
    kind = 'T';
  } else {
    return Fast::kFallback;
  }
  const char* at = p + 7;
  if (!Is(*at, kMetricStart)) return Fast::kFallback;
  const char* q = SkipName<true>(at + 1, end, end);
  const std::string_view name(at, static_cast<size_t>(q - at));
  if (end - q < 2 || q[0] != ' ' || IsBlank(q[1]) || q[1] == '\n') return Fast::kFallback;
  const char* text = q + 1;
  const char* nl;
  std::optional<MetricType> type;
  if (kind == 'H') {
    nl = FindNewlineOrHigh(text, end);
    if (nl < end && *nl != '\n') return Fast::kFallback;  // non-ASCII: UTF-8 check
  } else {
    nl = text;
    while (nl < end && ((*nl >= 'a' && *nl <= 'z') || *nl == '_')) ++nl;
    if (nl < end && *nl != '\n') return Fast::kFallback;
    type = TypeFromWord(std::string_view(text, static_cast<size_t>(nl - text)), om);
    if (!type) return Fast::kFallback;
  }
  if (nl[-1] == '\r') return Fast::kFallback;  // CRLF handling: the general path
  *eol_out = nl;
  line_end = nl;
  const std::string_view text_view =
      kind == 'H' ? std::string_view(text, static_cast<size_t>(nl - text)) : std::string_view();
  return Metadata(kind, name, false, at, text_view, type) ? Fast::kDone : Fast::kFailed;
}
}  // namespace nimscaler::exposition
