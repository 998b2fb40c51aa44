#pragma once
// SnapshotBuilder: one trigger's share of a collection cycle, with no I/O. The responses a cycle
// fetched for the trigger's group (CycleData, shared by every trigger of the group) become the
// trigger's Snapshot: its own signals read from each body, a failed pod's last gauges kept for
// stale_keep (docs/operations.md "What KEDA gets, and when"), and the front door's series
// (missing ones read as 0). What deserves a log line comes back as events, for the caller to
// log with its own context. `serve` (TrackedObject::Ingest) and `check` both build with it.

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/clock.h"
#include "scaler/net/http_client.h"
#include "scaler/signals/snapshot.h"
#include "scaler/sources/pod_scrape_source.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler::engine {

/// What one collection cycle of a group fetched, shared by every member of the group.
struct CycleData {
  TimePoint started{};
  size_t discovered = 0;          ///< pods listed (ready or not)
  std::string discovery_error;    ///< why discovery failed (the last known pods were scraped)
  std::vector<std::string> urls;  ///< ready pods scraped, in order
  /// Their names (PodEndpoint::name), one per url, for log lines: views into the group's pod
  /// list, which outlives the cycle's Ingest() calls. May be empty (a URL names the pod then).
  std::vector<std::string_view> pods;
  std::vector<Result<net::HttpResponse>> responses;  ///< one per url
  double fetch_seconds = 0;
  /// The front door's endpoints scraped (frontDoor; empty without one) and their responses.
  std::vector<std::string> front_door_urls;
  std::vector<Result<net::HttpResponse>> front_door_responses;
  std::string front_door_error;  ///< why the front door's endpoints could not be listed
};

/// Something about a cycle worth one log line (a pod failing or answering again, a discovery
/// error, the engine `auto` chose), said once when it starts.
struct SnapshotEvent {
  bool warning = false;       ///< a warning, else information
  std::optional<size_t> pod;  ///< the index in CycleData::urls of the pod it is about
  std::string message;
};

struct BuiltSnapshot {
  signals::SnapshotConstPtr snapshot;
  std::vector<SnapshotEvent> events;
  size_t scrapes_ok = 0;  ///< pods whose response this trigger could read
  size_t scrapes_failed = 0;
};

/// Not thread-safe: one per trigger, used by one collection worker at a time.
class SnapshotBuilder {
 public:
  /// `http` is not used to build (the source needs it for its own ScrapeAll()).
  SnapshotBuilder(trigger::ScalerSpecConstPtr spec, std::shared_ptr<net::HttpClient> http);

  /// The snapshot of `data`, following `previous` (null before the first cycle).
  BuiltSnapshot Build(const CycleData& data, const signals::SnapshotConstPtr& previous);

  /// How the pods' bodies are read: this trigger's signals, engine and filters.
  const sources::PodScrapeSource& source() const { return source_; }

 private:
  signals::PodReading ReadPod(const CycleData& data, size_t i, const signals::PodReading* prev, BuiltSnapshot* out);
  void ReadFrontDoor(const CycleData& data, const signals::Snapshot* previous, signals::Snapshot* snap,
                     std::vector<SnapshotEvent>* events) const;

  // One event, its message prefixed with the trigger's "<namespace>/<name>".
  void Say(std::vector<SnapshotEvent>* events, bool warning, std::optional<size_t> pod, const std::string& what) const;

  trigger::ScalerSpecConstPtr spec_;
  sources::PodScrapeSource source_;
  std::optional<sources::PodScrapeSource> front_door_source_;  // with frontDoor only
  std::set<std::string> auto_engines_seen_;                    // engines `auto` chose, said once each
};

}  // namespace nimscaler::engine
