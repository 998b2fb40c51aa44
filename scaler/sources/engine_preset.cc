// Exports the preset table and its lookups. Names come from llm-engines.md §A.2/A.3.
#include "scaler/sources/engine_preset.h"

#include <algorithm>

namespace nimscaler::sources {
namespace {

using signals::Combine;

const std::vector<EnginePreset>& Presets() {
  static const std::vector<EnginePreset> kPresets = {
      // NIM for LLMs 1.x: unprefixed names on the API port's /v1/metrics.
      {"nim",
       "/v1/metrics",
       {{signals::kKvCache, {"gpu_cache_usage_perc"}, Combine::kAverage},
        {signals::kWaiting, {"num_requests_waiting"}, Combine::kSum},
        {signals::kRunning, {"num_requests_running"}, Combine::kSum}}},
      // vLLM: V1 name first, the legacy (<=0.11) name as fallback. One series per DP engine.
      {"vllm",
       "/metrics",
       {{signals::kKvCache, {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}, Combine::kAverage},
        {signals::kWaiting, {"vllm:num_requests_waiting"}, Combine::kSum},
        {signals::kRunning, {"vllm:num_requests_running"}, Combine::kSum}}},
  };
  return kPresets;
}

}  // namespace

const std::vector<std::string>& EngineNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names{"auto"};
    for (const auto& p : Presets()) names.push_back(p.name);
    return names;
  }();
  return kNames;
}

const EnginePreset* FindPreset(std::string_view name) {
  for (const auto& p : Presets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const EnginePreset* DetectPreset(const std::vector<std::string>& families) {
  for (const auto& p : Presets()) {
    for (const auto& metric : p.gauges.front().metrics) {
      if (std::find(families.begin(), families.end(), metric) != families.end()) return &p;
    }
  }
  return nullptr;
}

}  // namespace nimscaler::sources
