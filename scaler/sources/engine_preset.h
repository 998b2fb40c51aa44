#pragma once
// Engine presets: which metric names each model server uses for each builtin signal
// (llm-engines.md §A), in order of preference, and how a pod's series are combined.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/signals/snapshot.h"

namespace nimscaler::sources {

/// One builtin signal's metric names in order of preference (newest first, legacy after).
struct SignalMetric {
  std::string signal;                ///< e.g. "kv_cache"
  std::vector<std::string> metrics;  ///< e.g. {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}
  signals::Combine combine;          ///< how several series of one pod combine
};

struct EnginePreset {
  std::string name;          ///< "nim", "vllm"
  std::string metrics_path;  ///< default path of the metrics endpoint
  std::vector<SignalMetric> gauges;
};

/// Names accepted by the `engine` key (including "auto").
const std::vector<std::string>& EngineNames();

/// The preset for `name`, or nullptr for "auto" or an unknown name.
const EnginePreset* FindPreset(std::string_view name);

/// Picks the preset whose metrics appear among `families` (the names a pod serves);
/// nullptr when none matches. Used by `engine: auto` on the first scrape.
const EnginePreset* DetectPreset(const std::vector<std::string>& families);

}  // namespace nimscaler::sources
