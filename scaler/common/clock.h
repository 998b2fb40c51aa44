#pragma once
// Time is passed in: logic takes a TimePoint argument; only loops that schedule work
// read a Clock. Tests use tests/fakes/fake_clock.h.

#include <chrono>

namespace nimscaler {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Duration = SteadyClock::duration;

/// Source of the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

/// The real monotonic clock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return SteadyClock::now(); }
};

/// Seconds as a double, for formulas and logs.
inline double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace nimscaler
