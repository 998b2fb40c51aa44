#pragma once
// Value types shared by the exposition parser and its callers: formats, metric types,
// label and sample views, family metadata, parse errors and options.
//
// Every std::string_view here points into the scrape body or into the parser's scratch
// space; it is valid only during the visitor callback that received it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace nimscaler::exposition {

/// Wire format of a body.
enum class Format : uint8_t {
  kPrometheusText,  ///< text/plain; version=0.0.4 (and 1.0.0, which adds quoted names)
  kOpenMetrics,     ///< application/openmetrics-text; version=1.0.0 (must end in "# EOF")
};

/// "prometheus-text" or "openmetrics".
const char* FormatName(Format format);

/// Declared type of a family. kUntyped stands for 0.0.4 "untyped" and OpenMetrics "unknown".
enum class MetricType : uint8_t {
  kUntyped,
  kCounter,
  kGauge,
  kHistogram,
  kGaugeHistogram,
  kSummary,
  kInfo,
  kStateset,
};

/// "untyped", "counter", ... (OpenMetrics spells kUntyped "unknown"; this returns "untyped").
const char* MetricTypeName(MetricType type);

/// What a sample is within its family, decided from its name's suffix and the family type.
enum class SampleRole : uint8_t {
  kValue,    ///< the family name itself: gauge, untyped, 0.0.4 counter, summary quantile, stateset
  kTotal,    ///< OpenMetrics counter `_total`
  kCreated,  ///< `_created` of an OpenMetrics counter, histogram or summary
  kBucket,   ///< histogram / gaugehistogram `_bucket`
  kSum,      ///< `_sum`
  kCount,    ///< `_count`
  kGSum,     ///< gaugehistogram `_gsum`
  kGCount,   ///< gaugehistogram `_gcount`
  kInfo,     ///< OpenMetrics info `_info`
};

/// One label. `value` is unescaped: it points into the body when the value holds no escape,
/// and into parser scratch space otherwise.
struct Label {
  std::string_view name;
  std::string_view value;
};

/// An OpenMetrics exemplar attached to a sample.
struct Exemplar {
  std::span<const Label> labels;
  double value = 0;
  std::optional<double> timestamp_seconds;
};

/// One selected sample, handed to a SampleVisitor. Views only; copy what you keep.
struct Sample {
  std::string_view name;    ///< sample name as exposed, e.g. "vllm:e2e_request_latency_seconds_bucket"
  std::string_view family;  ///< family it belongs to (TYPE name), or `name` for an untyped sample
  MetricType type = MetricType::kUntyped;
  SampleRole role = SampleRole::kValue;
  std::span<const Label> labels;        ///< in exposition order; `le` and `quantile` included
  double value = 0;                     ///< NaN and +-Inf exactly as exposed
  std::optional<int64_t> timestamp_ms;  ///< 0.0.4 milliseconds, or OpenMetrics seconds * 1000
  const Exemplar* exemplar = nullptr;   ///< OpenMetrics only; null when absent
  std::string_view series;              ///< raw bytes of `name{labels}` (a cache key; escapes not resolved)
  uint32_t line = 0;                    ///< 1-based line number in the body

  /// Value of label `key`, or nullopt when the sample has no such label.
  std::optional<std::string_view> Find(std::string_view key) const {
    for (const Label& l : labels) {
      if (l.name == key) return l.value;
    }
    return std::nullopt;
  }
};

/// Metadata of one family run, given to SampleVisitor::OnFamily.
struct Family {
  std::string_view name;
  MetricType type = MetricType::kUntyped;
  bool typed = false;         ///< a TYPE line named it (false: implicit untyped/unknown family)
  std::string_view help_raw;  ///< HELP text with its escapes; see UnescapeHelp()
  std::string_view unit;      ///< OpenMetrics UNIT, empty when absent
  bool selected = false;      ///< the selector wants this family as a whole
};

/// Where and why a body failed to parse.
struct ParseError {
  uint32_t line = 0;    ///< 1-based
  uint32_t column = 0;  ///< 1-based byte column
  std::string message;  ///< short reason, e.g. "expected '=' after label name"
  std::string excerpt;  ///< the offending line, truncated around the column

  /// "line 3, column 7: expected '=' after label name: a{b\"c\"} 1"
  std::string ToString() const;
};

/// What one malformed line does to the rest of the body.
enum class ErrorPolicy : uint8_t {
  /// Default. The first malformed line fails the whole body, like Prometheus fails the scrape.
  /// Samples already visited must be discarded by the caller. For autoscaling this is the
  /// safe choice: a half-read exposition can silently drop the one series a formula needs,
  /// and a clear error naming the pod is better than a plausible but wrong value.
  kFailBody,
  /// Skip the malformed line (resynchronising at the next newline), count it, keep the first
  /// error, and go on, like VictoriaMetrics. Structural OpenMetrics checks that span lines
  /// (missing "# EOF", histogram consistency) still fail the body.
  kSkipLine,
};

/// How much of the specs beyond plain syntax is enforced.
enum class Strictness : uint8_t {
  /// Default. Accept and reject what Prometheus's own parsers (textparse) do, plus duplicate
  /// label names (which fail a Prometheus scrape at append time). No value-domain or
  /// cross-line semantic checks: if Prometheus would ingest a body, so do we.
  kPrometheus,
  /// The letter of the format. 0.0.4: the rules of prometheus/common expfmt (final newline,
  /// commas between labels, only \\ \" \n escapes, numeric `le`/`quantile`, one HELP and one
  /// TYPE per family before its samples, no negative histogram counts). OpenMetrics: the
  /// OpenMetrics 1.0 conformance suite (no trailing comma, metadata once and before samples,
  /// no name clashes or interleaved series, histogram/summary/stateset/info value rules).
  kSpec,
};

/// Tunables. Defaults are what the scaler uses.
struct Options {
  Strictness strictness = Strictness::kPrometheus;
  ErrorPolicy error_policy = ErrorPolicy::kFailBody;
  /// true: every line is validated, selected or not, so the outcome never depends on what
  /// was selected. false: lines of unselected families are skipped with memchr after their
  /// name is read (fastest; a malformed unselected line goes unnoticed).
  bool validate_unselected = true;
  /// Accept "\r\n" line ends (the trailing '\r' is dropped). Off: '\r' is an error, as in
  /// Prometheus.
  bool allow_crlf = false;
  /// Bodies longer than this fail before parsing (0 = no limit).
  size_t max_body_bytes = 0;
  /// A sample with more labels than this fails the body.
  size_t max_labels = 512;
};

/// Counters describing one successful parse.
struct ParseStats {
  size_t lines = 0;
  size_t samples = 0;           ///< all sample lines, selected or not
  size_t selected_samples = 0;  ///< samples handed to the visitor
  size_t families = 0;          ///< family runs (metadata blocks or implicit families)
  size_t skipped_lines = 0;     ///< malformed lines skipped under ErrorPolicy::kSkipLine
};

}  // namespace nimscaler::exposition
