#pragma once
// WakePoller: runs the triggers' wakeQuery PromQL queries on their own few threads, apart from
// collection. A Prometheus that accepts connections and never answers then delays only wake
// queries (each bounded by its timeout, below the trigger's interval) and marks only its own
// trigger (wakeError in /debug); collection cycles and readiness never wait on it.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "scaler/common/clock.h"

namespace nimscaler::engine {

class TrackedObject;

/// Thread-safe.
class WakePoller {
 public:
  WakePoller(const Clock* clock, size_t threads);
  ~WakePoller();
  WakePoller(const WakePoller&) = delete;
  WakePoller& operator=(const WakePoller&) = delete;

  /// Polls `object`'s wakeQuery at once and then every scrape interval until removed.
  void Add(const std::shared_ptr<TrackedObject>& object);
  void Remove(const std::vector<const TrackedObject*>& objects);
  /// Stops the threads (a query in flight finishes first, bounded by its timeout).
  void Stop();

 private:
  void Work();

  const Clock* clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<TimePoint, std::weak_ptr<TrackedObject>> due_;
  std::unordered_map<const TrackedObject*, std::weak_ptr<TrackedObject>> members_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace nimscaler::engine
