// Exports Parser (the zero-copy exposition parser), DetectFormat() and ParseError::ToString.
// This file holds the line loop and the family bookkeeping; the stages it calls have their
// own files (parser_impl.h lists them).
//
// How it is fast: the body is cut into lines, and each line is lexed once with byte-class
// tables, bounded by its newline (no quoted string can contain a raw newline, so a line never
// needs the next one). The usual line shapes take the fast path, which finds the line's end
// itself; the rest are cut with memchr and read by the general lexer. Names and label values
// stay views into the body; a value is unescaped only if it contains a backslash and the
// sample is selected (or, in OpenMetrics, checked). Short decimal values take an exact fast
// path. Family lookups in the Selector happen once per family run, sample-name lookups once
// per line and only when the caller asked for sample names. Scratch vectors live in the
// Parser and keep their capacity, so a warm parser does no heap allocation at all.
#include "scaler/signals/exposition/parser.h"

#include <algorithm>
#include <cstring>

#include "scaler/signals/exposition/parser_impl.h"

namespace nimscaler::exposition {

using namespace detail;  // NOLINT(google-build-using-namespace): the parser's own internals

std::string ParseError::ToString() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message + ": " + excerpt;
}

std::string detail::MakeExcerpt(std::string_view line, size_t column) {
  // Keep at most ~80 bytes around the column; show control and non-ASCII bytes as \xNN so a
  // hostile body cannot inject terminal escapes into logs.
  constexpr size_t kMax = 80;
  size_t begin = 0;
  if (line.size() > kMax && column > kMax / 2) begin = std::min(column - kMax / 2, line.size() - kMax);
  std::string_view cut = line.substr(begin, kMax);
  std::string out;
  if (begin > 0) out += "...";
  for (char ch : cut) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  if (begin + cut.size() < line.size()) out += "...";
  return out;
}

Parser::Impl::Impl(Options o) : opt(o) {
  labels.reserve(32);
  label_flags.reserve(32);
  ex_labels.reserve(8);
  ex_flags.reserve(8);
  scratch.reserve(1024);
  pending_types.reserve(256);
  name_scratch.reserve(256);
}

void Parser::Impl::FlushPendingTypes() {
  for (const auto& [n, t] : pending_types) declared_types.Put(Selector::Hash(n), t);
  pending_types.clear();
}

bool Parser::Impl::Fail(const char* at, std::string message, bool is_fatal) {
  if (have_error && opt.error_policy == ErrorPolicy::kSkipLine && !is_fatal) {
    // Keep the first error; later ones only count.
    fatal = false;
    return false;
  }
  const std::string_view line(line_begin, static_cast<size_t>(line_end - line_begin));
  size_t col = at >= line_begin ? static_cast<size_t>(at - line_begin) : 0;
  if (col > line.size()) col = line.size();
  error.line = line_no;
  error.column = static_cast<uint32_t>(col + 1);
  error.message = std::move(message);
  error.excerpt = MakeExcerpt(line, col);
  have_error = true;
  fatal = is_fatal;
  return false;
}

void Parser::Impl::Report() {
  if (fam.reported) return;
  fam.reported = true;
  if (!sel->selects_all() && !sel->empty()) fam.entry = sel->FindFamily(fam.name, fam.type);
  Family f;
  f.name = fam.name;
  f.type = fam.type;
  f.typed = fam.typed;
  f.help_raw = fam.help;
  f.unit = fam.unit;
  f.selected = sel->selects_all() || fam.entry >= 0;
  vis->OnFamily(f);
}

bool Parser::Impl::EndFamily() {
  if (!fam.active) return true;
  Report();
  fam.active = false;
  if (om && strict) {
    if (const char* err = om_checker.EndFamily(fam.name, fam.type, fam.unit)) {
      return Fail(line_begin, err, true);
    }
  }
  return true;
}

// Starts a family run. `name` must outlive the run: a view into the body, or (when
// `transient`) a view into line scratch that is copied here.
bool Parser::Impl::BeginFamily(std::string_view name, bool transient) {
  if (!EndFamily()) return false;
  if (transient) {
    fam_name_buf.assign(name);
    name = fam_name_buf;
  }
  fam = FamilyState{};
  fam.name = name;
  fam.active = true;
  // A name that is not transient is a view into the body, so the scan may load up to
  // the body's end.
  const char* name_end = name.data() + name.size();
  fam.bare = !name.empty() && Is(name[0], kMetricStart) &&
             SkipName<true>(name.data() + 1, name_end, transient ? name_end : body_end) == name_end;
  ++stats.families;
  return true;
}

// ResolveFamily when the sample does not continue the current family run.
bool Parser::Impl::ResolveNewFamily(std::string_view name, bool transient) {
  if (!om && !(declared_types.empty() && pending_types.empty()) && ResumeDeclaredFamily(name, transient)) {
    return true;
  }
  if (!BeginFamily(name, transient)) return false;
  role = SampleRole::kValue;
  return true;
}

// 0.0.4 families are not always contiguous (a stray line between a summary's quantiles
// and its _count). Like Prometheus and expfmt, remember each TYPE and give a returning
// sample its family back, instead of demoting it to untyped.
bool Parser::Impl::ResumeDeclaredFamily(std::string_view name, bool transient) {
  std::string_view base = name;
  FlushPendingTypes();
  std::optional<MetricType> t = declared_types.Get(Selector::Hash(name));
  std::optional<SampleRole> r;
  if (t) {
    r = RoleFor("", *t, false);
  } else {
    for (std::string_view suffix :
         {std::string_view("_bucket"), std::string_view("_sum"), std::string_view("_count")}) {
      if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix) {
        continue;
      }
      base = name.substr(0, name.size() - suffix.size());
      t = declared_types.Get(Selector::Hash(base));
      if (t) r = RoleFor(suffix, *t, false);
      break;
    }
  }
  if (!t || !r) return false;
  if (!BeginFamily(base, transient)) return false;
  fam.type = *t;
  fam.typed = true;
  role = *r;
  return true;
}

// Applies a HELP/TYPE/UNIT line to the family state. kind: 'H', 'T', 'U'.
bool Parser::Impl::Metadata(char kind, std::string_view name, bool transient, const char* at, std::string_view text,
                            std::optional<MetricType> type) {
  if (!(fam.active && fam.name.size() == name.size() && SameBytes(fam.name.data(), name.data(), name.size()))) {
    if (!BeginFamily(name, transient)) return false;
  } else if (strict) {
    if (fam.has_samples && (om || kind == 'T')) {
      return Fail(at, "metadata after samples of the family");
    }
    if ((kind == 'H' && fam.help_seen) || (kind == 'T' && fam.typed) || (kind == 'U' && fam.unit_seen)) {
      return Fail(at, "repeated metadata for the family");
    }
  }
  switch (kind) {
    case 'H':
      fam.help = text;
      // expfmt ignores a 0.0.4 HELP without text, so it does not count as the one HELP.
      fam.help_seen = om || !text.empty();
      break;
    case 'T':
      fam.type = *type;
      fam.typed = true;
      if (!om) {
        if (transient) {  // a view into scratch: hash it now, after the earlier ones
          FlushPendingTypes();
          declared_types.Put(Selector::Hash(name), *type);
        } else {
          pending_types.emplace_back(name, *type);
        }
      }
      break;
    default:
      fam.unit = text;
      fam.unit_seen = true;
      break;
  }
  return true;
}

Result<ParseStats> Parser::Impl::Run(std::string_view body) {
  stats = ParseStats{};
  have_error = false;
  fatal = false;
  error = ParseError{};
  fam = FamilyState{};
  line_no = 0;
  om_checker.Reset();
  declared_types.Clear();
  pending_types.clear();
  line_begin = line_end = body.data();
  body_end = body.data() + body.size();
  if (opt.max_body_bytes != 0 && body.size() > opt.max_body_bytes) {
    Fail(body.data(),
         "body of " + std::to_string(body.size()) + " bytes exceeds the limit of " + std::to_string(opt.max_body_bytes),
         true);
    return InvalidArgument(error.ToString());
  }
  const char* p = body.data();
  const char* end = p + body.size();
  bool eof = false;
  const bool fast_lines = opt.validate_unselected || sel->selects_all();
  while (p < end) {
    line_begin = p;
    ++line_no;
    if ((fast_lines && Is(*p, kMetricStart)) || *p == '#') {
      const char* eol = end;
      const Fast f = *p == '#' ? FastMetaLine(p, end, &eol) : FastSampleLine(p, end, &eol);
      if (f != Fast::kFallback) {
        if (f == Fast::kFailed) {
          if (fatal || opt.error_policy == ErrorPolicy::kFailBody) {
            return InvalidArgument(error.ToString());
          }
          ++stats.skipped_lines;
        }
        p = eol < end ? eol + 1 : end;
        continue;
      }
    }
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* eol = nl != nullptr ? nl : end;
    line_end = eol;
    const char* content_end = eol;
    if (opt.allow_crlf && content_end > p && content_end[-1] == '\r') --content_end;
    if (!Line(p, content_end, &eof)) {
      if (fatal || opt.error_policy == ErrorPolicy::kFailBody) return InvalidArgument(error.ToString());
      ++stats.skipped_lines;
    }
    p = nl != nullptr ? nl + 1 : end;
    if (eof) {
      if (p < end) {
        line_begin = p;
        line_end = end;
        ++line_no;
        Fail(p, "unexpected data after # EOF", true);
        return InvalidArgument(error.ToString());
      }
      break;
    }
  }
  stats.lines = line_no;
  if (strict && !om && !body.empty() && body.back() != '\n' &&
      std::any_of(line_begin, line_end, [](char c) { return !Is(c, kBlank); })) {
    Fail(line_end, "body does not end with a newline", true);
    return InvalidArgument(error.ToString());
  }
  if (!EndFamily()) return InvalidArgument(error.ToString());
  if (om && !eof) {
    line_begin = line_end = end;
    if (!body.empty() && body.back() == '\n') ++line_no;  // the line that should say # EOF
    Fail(end, "OpenMetrics body does not end with # EOF", true);
    return InvalidArgument(error.ToString());
  }
  return stats;
}
Parser::Parser(Options options) : impl_(std::make_unique<Impl>(options)) {}
Parser::~Parser() = default;

Result<ParseStats> Parser::Parse(std::string_view body, Format format, const Selector& selector,
                                 SampleVisitor& visitor) {
  impl_->format = format;
  impl_->om = format == Format::kOpenMetrics;
  impl_->strict = impl_->opt.strictness == Strictness::kSpec;
  impl_->sel = &selector;
  impl_->vis = &visitor;
  return impl_->Run(body);
}

const ParseError& Parser::error() const { return impl_->error; }

// ------------------------------------------------------------------------------------------

Format DetectFormat(std::string_view content_type, std::string_view body) {
  // Media type: up to ';', trimmed, case-insensitive.
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char x = a[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
      if (x != b[i]) return false;
    }
    return true;
  };
  if (iequals(media, "application/openmetrics-text")) return Format::kOpenMetrics;
  if (iequals(media, "text/plain")) return Format::kPrometheusText;
  // Fallback: an OpenMetrics body ends with "# EOF" (optionally followed by one newline) and
  // has no blank lines; 0.0.4 parsing of such a body would misname its counters.
  std::string_view tail = body;
  if (!tail.empty() && tail.back() == '\n') tail.remove_suffix(1);
  constexpr std::string_view kEof = "# EOF";
  const bool ends_eof = tail.size() >= kEof.size() && tail.substr(tail.size() - kEof.size()) == kEof &&
                        (tail.size() == kEof.size() || tail[tail.size() - kEof.size() - 1] == '\n');
  if (ends_eof && body.find("\n\n") == std::string_view::npos) return Format::kOpenMetrics;
  return Format::kPrometheusText;
}

}  // namespace nimscaler::exposition
