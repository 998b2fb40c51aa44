// Exports TypeFromWord (type_table.h) and the names of formats and types declared in types.h.
#include "scaler/signals/exposition/type_table.h"

namespace nimscaler::exposition {

const char* FormatName(Format format) { return format == Format::kOpenMetrics ? "openmetrics" : "prometheus-text"; }

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kUntyped: return "untyped";
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kGaugeHistogram: return "gaugehistogram";
    case MetricType::kSummary: return "summary";
    case MetricType::kInfo: return "info";
    case MetricType::kStateset: return "stateset";
  }
  return "untyped";
}

namespace detail {

std::optional<MetricType> TypeFromWord(std::string_view w, bool om) {
  if (Eq(w, "counter")) return MetricType::kCounter;
  if (Eq(w, "gauge")) return MetricType::kGauge;
  if (Eq(w, "histogram")) return MetricType::kHistogram;
  if (Eq(w, "summary")) return MetricType::kSummary;
  if (om) {
    if (Eq(w, "unknown")) return MetricType::kUntyped;
    if (Eq(w, "gaugehistogram")) return MetricType::kGaugeHistogram;
    if (Eq(w, "info")) return MetricType::kInfo;
    if (Eq(w, "stateset")) return MetricType::kStateset;
  } else {
    if (Eq(w, "untyped")) return MetricType::kUntyped;
    // Newer expfmt reads these (its enum name upper-cased); Go clients may emit them.
    if (Eq(w, "gaugehistogram") || Eq(w, "gauge_histogram")) return MetricType::kGaugeHistogram;
  }
  return std::nullopt;
}

}  // namespace detail
}  // namespace nimscaler::exposition
