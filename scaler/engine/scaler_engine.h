#pragma once
// ScalerEngine: the spec cache and the set of tracked ScaledObjects. KEDA's request
// (namespace, name, metadata) resolves to a cached, immutable spec and its TrackedObject;
// a new metadata hash is a new entry; entries nobody asked about are forgotten.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "scaler/engine/collector.h"
#include "scaler/engine/tracked_object.h"
#include "scaler/spec/scaler_spec.h"

namespace nimscaler::engine {

/// Thread-safe.
class ScalerEngine {
 public:
  /// `workers`: collection threads shared by every tracked trigger.
  ScalerEngine(spec::SpecOptions options, EngineDeps deps, Duration idle_forget, size_t workers = 4);
  ~ScalerEngine();

  /// The tracked object for this trigger, creating and starting it on first use.
  /// INVALID_ARGUMENT (every metadata problem at once) when the metadata is bad.
  Result<std::shared_ptr<TrackedObject>> Resolve(const std::string& ns, const std::string& name,
                                                 const config::Metadata& metadata);

  std::vector<std::shared_ptr<TrackedObject>> List() const;

  /// Wakes every tracked trigger of namespace/name (the wake hook). Returns how many.
  size_t Wake(const std::string& ns, const std::string& name, TimePoint now, const std::string& reason);

  /// False (with the reason) when a tracked object's collection is stalled: its last cycle
  /// ended more than 2 x its interval (plus the scrape timeout) ago.
  bool CollectionHealthy(TimePoint now, std::string* why) const;

  /// Stops and drops objects not asked about for `idle_forget`. Returns how many.
  size_t ForgetIdle(TimePoint now);

  void StopAll();

  /// Distinct collection groups (triggers reading the same pods share one).
  size_t collection_groups() const { return collector_.groups(); }

 private:
  struct Entry {
    Status error;  // non-ok: the metadata is invalid (cached so bad input costs nothing)
    std::shared_ptr<TrackedObject> object;
    TimePoint last_access;
  };

  const spec::SpecOptions options_;
  const EngineDeps deps_;
  const Duration idle_forget_;
  mutable std::mutex mu_;  // guards entries_; held only for map work, never across I/O
  std::map<spec::ScaledObjectKey, Entry> entries_;
  Collector collector_;
};

}  // namespace nimscaler::engine
