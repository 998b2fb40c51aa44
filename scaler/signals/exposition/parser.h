#pragma once
// Prometheus text exposition parsing (pure: no I/O, no logging).
//
// First version: good enough for gauges and counters in Prometheus text 0.0.4. The full
// zero-copy parser (OpenMetrics, histograms, exemplars, escapes) replaces the internals
// behind the same entry points.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scaler/common/result.h"

namespace nimscaler::exposition {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// One selected series: sample name, its labels (unescaped) and value.
struct SeriesValue {
  std::string name;
  Labels labels;
  double value = 0;

  /// Value of label `key`, or empty when absent.
  std::string_view Label(std::string_view key) const;
};

/// Where a body failed to parse: 1-based line and column, what was expected, and an excerpt.
struct ParseError {
  size_t line = 0;
  size_t column = 0;
  std::string message;
  std::string excerpt;
  std::string ToString() const;  ///< "line 3, column 7: expected value, got 'x' in \"...\""
};

/// Result of a selective parse.
struct Selection {
  std::vector<SeriesValue> series;   ///< samples whose name is one of the wanted names
  std::vector<std::string> families;  ///< every metric name seen (for "did you mean" on a miss)
};

/// Parses `body` and keeps only samples whose name is in `wanted`. A malformed line fails
/// the whole body (the scrape of that pod is reported, with line and column, not guessed at).
Result<Selection> ParseSelected(std::string_view body, std::string_view content_type,
                                const std::vector<std::string>& wanted);

}  // namespace nimscaler::exposition
