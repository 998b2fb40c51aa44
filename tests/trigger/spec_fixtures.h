// Shared by the spec suites: the server policy that allows static endpoints and a pod URL.
#pragma once

#include "scaler/trigger/scaler_spec.h"

namespace nimscaler::trigger {

inline const SpecOptions kAllow{.allow_static_endpoints = true};
inline const char* const kPod = "http://10.0.0.7:8000/v1/metrics";

}  // namespace nimscaler::trigger
