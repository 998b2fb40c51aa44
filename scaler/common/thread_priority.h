#pragma once
// Thread priorities: background work (collection) runs at a lower CPU priority than the threads
// that answer KEDA, so a call never waits behind a scrape for a CPU (docs/design.md).

#include <string>

#include "scaler/common/result.h"

namespace nimscaler {

/// Background threads' niceness above the process's (Linux: per thread; raising it needs no
/// privilege). 10 gives such a thread about a tenth of the CPU weight of one at the default.
inline constexpr int kBackgroundNiceIncrement = 10;

/// Raises the calling thread's niceness by `increment` (capped at 19) and names it `name` (at
/// most 15 characters, shown by `top -H` and in /proc). An error value when the kernel refuses;
/// the thread then runs at its old priority, which is correct, only slower to yield.
Status MakeBackgroundThread(const std::string& name, int increment = kBackgroundNiceIncrement);

}  // namespace nimscaler
