#pragma once
// Internal to the exposition parser: Parser::Impl, the state of one parse and the stages that
// share it. Each stage has its own file:
//   scan.h            byte classes and scanners (per byte)
//   type_table.h/.cc  type rules: suffix roles, # TYPE words, declared types of a 0.0.4 body
//   fast_path.cc      the one-pass reading of the usual sample and metadata lines
//   general_lexer.cc  every other line, and every line the fast path hands back
//   parser.cc         the line loop (Run), families, errors and the public API
// FinishSample, the step after lexing that both line readers end in, is defined here so each
// reader inlines it. It is kept whole although over 80 lines (issue 17): it runs once per
// sample with its state in locals, like the readers' loops listed at the top of their files.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scaler/signals/exposition/number.h"
#include "scaler/signals/exposition/om_checker.h"
#include "scaler/signals/exposition/parser.h"
#include "scaler/signals/exposition/scan.h"
#include "scaler/signals/exposition/type_table.h"

namespace nimscaler::exposition {

namespace detail {

// Flags kept per parsed label.
enum : uint8_t { kValueEscaped = 1, kNameEscaped = 2 };

// At most ~80 bytes of `line` around `column`, control and non-ASCII bytes as \xNN (so a
// hostile body cannot inject terminal escapes into logs).
std::string MakeExcerpt(std::string_view line, size_t column);

}  // namespace detail

struct Parser::Impl {
  explicit Impl(Options o);

  struct FamilyState {
    std::string_view name;
    MetricType type = MetricType::kUntyped;
    bool typed = false;
    bool active = false;  // a family run is open
    bool reported = false;
    bool bare = false;  // `name` is a valid bare metric name (all [a-zA-Z0-9_:])
    bool has_samples = false;
    bool help_seen = false;
    bool unit_seen = false;
    std::string_view help;
    std::string_view unit;
    int entry = -1;
  };

  // Configuration and per-call inputs.
  Options opt;
  Format format = Format::kPrometheusText;
  bool om = false;
  bool strict = false;  // Strictness::kSpec
  const Selector* sel = nullptr;
  SampleVisitor* vis = nullptr;

  // Position.
  const char* line_begin = nullptr;
  const char* line_end = nullptr;
  const char* body_end = nullptr;  // scanners may load up to here
  uint32_t line_no = 0;
  bool fatal = false;  // error that kSkipLine cannot skip
  ParseError error;
  bool have_error = false;
  ParseStats stats;

  // Family and sample state.
  FamilyState fam;
  std::string fam_name_buf;  // family name when it had to be unescaped
  SampleRole role = SampleRole::kValue;
  std::vector<Label> labels;
  std::vector<uint8_t> label_flags;
  std::vector<Label> ex_labels;
  std::vector<uint8_t> ex_flags;
  std::string scratch;       // unescaped label values of the current line
  std::string name_scratch;  // unescaped quoted metric name of the current line
  Exemplar exemplar;
  detail::OmChecker om_checker;
  detail::TypeTable declared_types;  // 0.0.4: TYPE by family name, for families split by other lines
  // TYPE lines not yet hashed into declared_types (names are views into the body). Most
  // bodies never look a TYPE up, so hashing waits for the first lookup.
  std::vector<std::pair<std::string_view, MetricType>> pending_types;

  // Outcome of a fast-path reader.
  enum class Fast : uint8_t { kDone, kFailed, kFallback };

  // parser.cc: the line loop, errors, families and metadata.
  Result<ParseStats> Run(std::string_view body);
  bool Fail(const char* at, std::string message, bool is_fatal = false);
  void FlushPendingTypes();
  void Report();
  bool EndFamily();
  bool BeginFamily(std::string_view name, bool transient);
  bool ResolveFamily(std::string_view name, bool transient);
  __attribute__((noinline)) bool ResolveNewFamily(std::string_view name, bool transient);
  bool ResumeDeclaredFamily(std::string_view name, bool transient);
  bool Metadata(char kind, std::string_view name, bool transient, const char* at, std::string_view text,
                std::optional<MetricType> type);

  // fast_path.cc
  Fast FastSampleLine(const char* p, const char* end, const char** eol_out);
  Fast FastMetaLine(const char* p, const char* end, const char** eol_out);

  // general_lexer.cc
  bool Line(const char* p, const char* eol, bool* eof);
  bool GeneralSampleLine(const char* p, const char* eol);
  bool ScanQuoted(const char*& p, const char* eol, std::string_view* raw, bool* escaped, const char* what);
  bool ParseLabels(const char*& p, const char* eol, std::vector<Label>& out, std::vector<uint8_t>& flags,
                   std::string_view* name_out, bool name_set, bool* name_transient, uint8_t* flags_or);
  void Unescape(std::vector<Label>& ls, const std::vector<uint8_t>& fl);
  bool ParseExemplar(const char*& p, const char* eol);
  bool MetaName(const char*& p, const char* eol, const char* what, std::string_view* name, bool* transient);
  bool PromComment(const char* p, const char* eol);
  bool OmComment(const char* p, const char* eol, bool* eof);

  // Below, inline.
  __attribute__((always_inline)) bool FinishSample(const char* s, const char* vs, std::string_view name,
                                                   std::string_view series, double value, std::optional<int64_t> ts_ms,
                                                   std::optional<double> ts_s, bool has_exemplar, uint8_t flags_or);
};

// Puts `name` (a sample name) into the current family or opens an implicit one.
inline bool Parser::Impl::ResolveFamily(std::string_view name, bool transient) {
  if (fam.active && detail::StartsWith(name, fam.name)) {
    if (auto r = detail::RoleFor(name.substr(fam.name.size()), fam.type, om)) {
      role = *r;
      return true;
    }
  }
  return ResolveNewFamily(name, transient);
}

// Everything after lexing, shared by the fast and the general path: label-set rules,
// family bookkeeping, format checks, selection and the visitor call. `s` is the start of
// the sample, `vs` of its value (error positions).
inline bool Parser::Impl::FinishSample(const char* s, const char* vs, std::string_view name, std::string_view series,
                                       double value, std::optional<int64_t> ts_ms, std::optional<double> ts_s,
                                       bool has_exemplar, uint8_t flags_or) {
  // Label-set rules shared by both formats.
  const Label* ls = labels.data();
  const size_t nl = labels.size();
  for (size_t i = 1; i < nl; ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (ls[i].name.size() == ls[j].name.size() &&
          detail::SameBytes(ls[i].name.data(), ls[j].name.data(), ls[i].name.size())) {
        return Fail(ls[i].name.data(), "duplicate label name");
      }
    }
  }
  const bool escapes = flags_or != 0;
  bool unescaped = false;
  ++stats.samples;
  fam.has_samples = true;
  if (!fam.reported) Report();

  if (!om) {
    // expfmt's checks: a typed histogram's `le` and a summary's `quantile` are numbers,
    // and histogram buckets and counts are not negative.
    if (strict && (fam.type == MetricType::kHistogram || fam.type == MetricType::kSummary)) {
      std::string_view key = fam.type == MetricType::kHistogram ? "le" : "quantile";
      if (escapes) {
        Unescape(labels, label_flags);
        unescaped = true;
      }
      for (const Label& l : labels) {
        if (l.name == key && !ParseFloat(l.value)) {
          return Fail(l.value.data() >= line_begin && l.value.data() < line_end ? l.value.data() : line_begin,
                      "label " + std::string(key) + " is not a number");
        }
      }
      if (fam.type == MetricType::kHistogram && value < 0 &&
          (role == SampleRole::kBucket || role == SampleRole::kCount)) {
        return Fail(vs, "negative histogram bucket or count");
      }
    }
    if (role == SampleRole::kValue && (fam.type == MetricType::kHistogram || fam.type == MetricType::kGaugeHistogram)) {
      for (const Label& l : labels) {
        if (l.name == "le") role = SampleRole::kBucket;
      }
    }
  } else if (strict) {
    if (escapes) {
      Unescape(labels, label_flags);
      unescaped = true;
    }
    detail::OmSample os{fam.name, fam.type, role, labels, value, ts_s, has_exemplar};
    if (const char* err = om_checker.OnSample(os)) return Fail(s, err);
  }

  // Selection.
  int entry = -1;
  bool selected = sel->selects_all();
  if (!selected) {
    entry = fam.entry;
    if (entry < 0 && sel->has_sample_entries()) entry = sel->FindSample(name);
    selected = entry >= 0;
  }
  if (!selected) return true;
  if (escapes && !unescaped) Unescape(labels, label_flags);
  if (entry >= 0 && sel->HasMatchers(entry) && !sel->Accepts(entry, labels)) return true;

  Sample sample;
  sample.name = name;
  sample.family = fam.name;
  sample.type = fam.type;
  sample.role = role;
  sample.labels = labels;
  sample.value = value;
  sample.timestamp_ms = ts_ms;
  sample.exemplar = has_exemplar ? &exemplar : nullptr;
  sample.series = series;
  sample.line = line_no;
  ++stats.selected_samples;
  vis->OnSample(sample);
  return true;
}
}  // namespace nimscaler::exposition
