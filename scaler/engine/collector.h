#pragma once
// Collector: runs every tracked ScaledObject's collection on a small pool of worker threads.
// Triggers that read the same pods the same way (same discovery, path, interval and HTTP
// options) form one CollectionGroup: one discovery, one fetch of each pod per cycle, and each
// member extracts and evaluates its own signals from the shared responses. No lock is held
// across I/O; each group runs on one worker at a time.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "scaler/engine/tracked_object.h"

namespace nimscaler::engine {

/// Thread-safe.
class Collector {
 public:
  Collector(EngineDeps deps, size_t workers);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  /// Adds `object` to the group of its pods (creating the group and its discovery on first
  /// use) and runs that group as soon as a worker is free.
  Status Add(const std::shared_ptr<TrackedObject>& object);
  /// Removes `objects` in one pass (cost linear in the batch and the groups it touches);
  /// a group left empty is dropped with its discovery.
  void Remove(const std::vector<const TrackedObject*>& objects);
  void Remove(const TrackedObject* object) { Remove(std::vector<const TrackedObject*>{object}); }
  /// Stops the workers (running cycles finish first).
  void Stop();

  size_t groups() const;

  /// The key that decides which triggers share a group (exposed for tests).
  static std::string GroupKey(const trigger::ScalerSpec& spec);

 private:
  struct Group;
  void Work();
  void RunCycle(Group& group);

  const EngineDeps deps_;
  mutable std::mutex mu_;  // guards groups_, queue_, stop_ and each Group's scheduling fields
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Group>> groups_;
  std::unordered_map<const TrackedObject*, std::shared_ptr<Group>> group_of_;  // each member's group
  std::multimap<TimePoint, std::weak_ptr<Group>> queue_;                       // next run of each idle group
  bool stop_ = false;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
};

}  // namespace nimscaler::engine
