// Time for the window suites: an arbitrary start kT0 and At(s), s seconds after it.
#pragma once

#include <chrono>

#include "scaler/common/clock.h"

namespace nimscaler::signals {

inline const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

inline TimePoint At(double s) { return kT0 + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s)); }

}  // namespace nimscaler::signals
