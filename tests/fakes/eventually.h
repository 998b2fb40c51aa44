#pragma once
// Eventually(): polls a condition until it holds or a bounded time passes, for tests that wait
// on another thread or process. Returns the condition's last value.

#include <chrono>
#include <thread>

namespace nimscaler::testing {

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

}  // namespace nimscaler::testing
