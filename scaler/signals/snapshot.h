#pragma once
// The data model of collected signals: what one pod reported in one scrape, and the
// immutable Snapshot of all pods of one ScaledObject that readers share.

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/clock.h"
#include "scaler/common/flat_map.h"
#include "scaler/common/signal_vocabulary.h"

namespace nimscaler::signals {

/// One pod's state as the collector last saw it. Plain value type.
struct PodReading {
  std::string endpoint;   ///< the URL scraped (identifies the pod)
  bool answered = false;  ///< the latest scrape succeeded
  bool stale = false;     ///< values are kept from an earlier scrape
  std::optional<TimePoint> last_success;
  std::string error;  ///< why the latest scrape failed, empty when it did not
  /// The latest scrape got an answer whose metrics cannot be read as configured (e.g. `engine:
  /// auto` recognises no engine): a configuration problem, not an unavailable pod.
  bool unreadable_metrics = false;
  std::string engine;   ///< preset used for this pod (the detected one for auto)
  std::string missing;  ///< configured metrics this pod does not serve, with hints
  // A pod holds a few signals: flat maps cost one allocation each instead of a node per
  // signal (a trigger over 10,000 pods keeps 10,000 readings).
  FlatMap<std::string, double> gauges;    ///< signal name -> combined value for this pod
  FlatMap<std::string, double> counters;  ///< signal name -> summed counter value
  /// signal name -> cumulative buckets (upper bound, count), summed over the pod's series
  FlatMap<std::string, std::vector<std::pair<double, double>>> histograms;
  FlatMap<std::string, SignalKind> kinds;  ///< signal -> its kind (from # TYPE)
};

/// All pods of one ScaledObject after one collection cycle. Immutable once published;
/// share it as SnapshotConstPtr. Thread-safe for concurrent readers.
struct Snapshot {
  TimePoint taken_at{};
  uint64_t cycle = 0;
  std::vector<PodReading> pods;  ///< ready pods (the ones scraped)
  size_t discovered = 0;         ///< every pod discovery lists, ready or starting (`pods`)
  std::string discovery_error;   ///< why discovery failed this cycle (pods are then the last known)
  /// The trigger's front door (frontDoor), one reading per endpoint scraped; empty without one.
  std::vector<PodReading> front_door;
  std::string front_door_error;  ///< why the front door's endpoints could not be listed this cycle

  /// Sum over the front door's answering endpoints of `signal`; nullopt when none answered.
  std::optional<double> FrontDoorSum(const std::string& signal) const;

  /// Pods whose values may be used now (answered, or stale but within the keep period).
  size_t UsablePods() const;
  /// Sum over usable pods of `signal`; nullopt when no usable pod has it.
  std::optional<double> Sum(const std::string& signal) const;
};
using SnapshotConstPtr = std::shared_ptr<const Snapshot>;

}  // namespace nimscaler::signals
