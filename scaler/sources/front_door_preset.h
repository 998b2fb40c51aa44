#pragma once
// Front-door presets (issue 18 item 1): which metrics of a front door that holds requests for a
// model (KEDA's HTTP add-on interceptor, the Gateway API Inference Extension's endpoint picker,
// Envoy AI Gateway's proxy, llm-d's scheduler) carry its queue, as frontdoor_waiting and
// frontdoor_inflight. The names, each project's source file and version: docs/front-doors.md
// "Presets".

#include <string>
#include <string_view>
#include <vector>

#include "scaler/sources/engine_preset.h"

namespace nimscaler::sources {

/// Names accepted by the `frontDoorPreset` key.
const std::vector<std::string>& FrontDoorPresetNames();

/// The preset for `name` (its metrics path, port and signal mappings), or nullptr.
const EnginePreset* FindFrontDoorPreset(std::string_view name);

}  // namespace nimscaler::sources
