#pragma once
// How a requested metric name matches ours: exactly, case-insensitively (KEDA <= 2.11 sent
// the HPA's lower-cased name), or after a stray "s<N>-" prefix (KEDA 2.5-2.6).

#include <string_view>

namespace nimscaler::service {

bool MetricNameMatches(std::string_view requested, std::string_view ours);

}  // namespace nimscaler::service
