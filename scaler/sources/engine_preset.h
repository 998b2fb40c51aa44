#pragma once
// Engine presets: which metric (family, label matchers, unit) each model server uses for each
// builtin signal (docs/formula.md "Engines"; the names in docs/design.md "Metric names per engine"), in order of
// preference, and how several series of one pod combine. Custom `signal.<name>` mappings use the same SignalSource
// shape.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/common/signal_vocabulary.h"
#include "scaler/signals/snapshot.h"

namespace nimscaler::sources {

/// One metric family and the label values its series must have.
struct MetricRef {
  std::string family;                         ///< TYPE name, e.g. "vllm:e2e_request_latency_seconds"
  std::map<std::string, std::string> labels;  ///< e.g. {"request_type": "waiting"}

  std::string ToString() const;  ///< `family{k="v"}`
};

/// Where one signal comes from.
struct SignalSource {
  std::string signal;                    ///< e.g. "kv_cache"
  SignalKind kind = SignalKind::kGauge;  ///< kUnknown: take it from the family's # TYPE
  std::vector<MetricRef> metrics;        ///< alternatives, first served wins (newest names first)
  Combine combine = Combine::kSum;
  double scale = 1;  ///< multiplies values / bucket bounds into base units (ms -> s)
};

/// The source of built-in signal `signal` (one of the names in scaler/common/signal_vocabulary.h)
/// read from `metrics`: its kind and how a pod's series combine come from the vocabulary table;
/// `combine` overrides the latter where an engine differs (SGLang's per-rank queues), `scale`
/// converts the engine's unit into the base unit (milliseconds -> seconds).
SignalSource BuiltinSource(const char* signal, std::vector<MetricRef> metrics,
                           std::optional<Combine> combine = std::nullopt, double scale = 1);

struct EnginePreset {
  std::string name;          ///< "nim", "vllm", ...
  std::string metrics_path;  ///< default path of the metrics endpoint
  std::string port;          ///< default pod port
  std::vector<SignalSource> signals;

  const SignalSource* Find(std::string_view signal) const;
};

/// Names accepted by the `engine` key (including "auto").
const std::vector<std::string>& EngineNames();

/// The preset for `name`, or nullptr for "auto" or an unknown name.
const EnginePreset* FindPreset(std::string_view name);

/// Picks the preset whose distinctive metrics appear among `families` (the family names a pod
/// serves); nullptr when none matches. Used by `engine: auto` on the first scrape.
const EnginePreset* DetectPreset(const std::vector<std::string_view>& families);

/// Parses a `signal.<name>` value: `family` or `family{label="value",...}`.
Result<MetricRef> ParseMetricRef(std::string_view text);

}  // namespace nimscaler::sources
