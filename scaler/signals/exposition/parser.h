#pragma once
// Prometheus text 0.0.4 / 1.0.0 and OpenMetrics 1.0 exposition parsing (pure: no I/O, no
// logging).
//
// Two layers:
//  - Parser: the zero-copy core. It walks one contiguous body, validates every line, and
//    hands the samples a Selector picks to a SampleVisitor as views into the body. It keeps
//    its scratch buffers between calls, so a reused Parser allocates nothing per sample (and
//    nothing at all once warm).
//  - ParseSelected(): a convenience wrapper that copies the selected series into owning
//    values, for tools and tests. The collector does not use it: PodScrapeSource hands its own
//    visitor to a reused Parser and copies nothing.
//
// Malformed input: see ErrorPolicy in types.h. By default the first malformed line fails the
// whole body with its line, column and an excerpt (Prometheus fails the scrape; the engine
// reports the error with the pod's name rather than guessing from a partial read).
//
// Format rules: 0.0.4 follows Prometheus textparse (tabs and repeated blanks, trailing
// commas, blank lines, optional final newline, `# EOF` is a comment) and adds expfmt's
// checks that catch broken exporters (duplicate label names, non-numeric `le`/`quantile` in
// typed histograms and summaries). OpenMetrics follows the 1.0 spec and its conformance
// suite, including the cross-line checks (grouping, histogram consistency, `# EOF`).
// Quoted UTF-8 names (`{"a.b"}`) are accepted in both.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/signals/exposition/selector.h"
#include "scaler/signals/exposition/types.h"

namespace nimscaler::exposition {

/// Receives the results of a parse. Callbacks run synchronously on the parsing thread; the
/// views they receive die when the callback returns.
class SampleVisitor {
 public:
  virtual ~SampleVisitor() = default;
  /// Once per family run, before its first sample (or at its end when it has none). Called
  /// for every family, selected or not: enough to list what a pod exposes.
  virtual void OnFamily(const Family& /*family*/) {}
  /// For each selected sample, in body order.
  virtual void OnSample(const Sample& sample) = 0;
};

/// Picks the format from a Content-Type header value. "application/openmetrics-text" gives
/// kOpenMetrics; "text/plain" and anything else, including an empty or unparsable header,
/// gives kPrometheusText unless the body itself ends in an OpenMetrics "# EOF" line and
/// holds no blank line (the sane fallback: a missing header must not break OM bodies).
Format DetectFormat(std::string_view content_type, std::string_view body);

/// The parsing core. Owns reusable scratch space.
///
/// Thread-safety: one Parser per thread (it is cheap); a const Selector may be shared.
class Parser {
 public:
  explicit Parser(Options options = {});
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  /// Parses `body`, calling `visitor` as it goes. On failure returns InvalidArgument whose
  /// message is error().ToString(); samples visited before the failure are not retracted.
  Result<ParseStats> Parse(std::string_view body, Format format, const Selector& selector, SampleVisitor& visitor);

  /// Details of the last failure (or, under kSkipLine, of the first skipped line).
  const ParseError& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ------------------------------------------------------------------------------------------
// Convenience wrapper (allocates per selected series).

using Labels = std::vector<std::pair<std::string, std::string>>;

/// One selected series: sample name, its labels (unescaped) and value.
struct SeriesValue {
  std::string name;
  Labels labels;
  double value = 0;

  /// Value of label `key`, or empty when absent.
  std::string_view Label(std::string_view key) const;
};

/// Result of a selective parse.
struct Selection {
  std::vector<SeriesValue> series;    ///< samples whose name is one of the wanted names
  std::vector<std::string> families;  ///< every metric name seen, sorted (for "did you mean")
};

/// Parses `body` (format from `content_type`, see DetectFormat) and keeps samples whose
/// *sample name* is in `wanted`. Values are as exposed (NaN and +-Inf included). A malformed
/// line fails the whole body; the message carries line, column and an excerpt.
/// `families` lists every family name and every sample name seen.
Result<Selection> ParseSelected(std::string_view body, std::string_view content_type,
                                const std::vector<std::string>& wanted);

}  // namespace nimscaler::exposition
