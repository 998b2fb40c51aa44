#pragma once
// ScalerEngine: the spec cache and the set of tracked ScaledObjects. KEDA's request
// (namespace, name, metadata) resolves to a cached, immutable spec and its TrackedObject;
// a new metadata hash is a new entry; entries nobody asked about are forgotten.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "scaler/engine/collector.h"
#include "scaler/engine/tracked_object.h"
#include "scaler/engine/wake_poller.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler::engine {

/// A Kubernetes Service, by namespace and name.
struct ServiceName {
  std::string ns;
  std::string name;
  bool operator<(const ServiceName& o) const { return std::tie(ns, name) < std::tie(o.ns, o.name); }
  bool operator==(const ServiceName& o) const = default;
};

/// The Services whose pods `spec` reads (issue 18 item 2: wake by Service), each once:
/// - `service`: that Service in the trigger's namespace;
/// - `dnsName` (a headless Service): "<svc>" (the trigger's namespace, as the pod's DNS search
///   path resolves it), "<svc>.<ns>", or any name with a "<svc>.<ns>.svc" part
///   ("<svc>.<ns>.svc.cluster.local", or "<pod>.<svc>.<ns>.svc..." for one pod of it);
/// - static `endpoints`: each URL whose host has a "<svc>.<ns>.svc" part (a bare name or an IP
///   address says nothing about a Service).
std::vector<ServiceName> ServicesRead(const trigger::ScalerSpec& spec);

/// Where a ScaledObject name would go, "service/<service>" names a wake by Service: in the wake
/// hook's URL (/v1/wake/<namespace>/service/<service>) and in the HA wake broadcast. No
/// Kubernetes name holds a '/', so the two never meet.
inline constexpr std::string_view kServiceWakePrefix = "service/";

/// What ScalerEngine::WakeService woke.
struct ServiceWake {
  size_t triggers = 0;                      ///< tracked triggers woken, each once
  std::vector<std::string> scaled_objects;  ///< their ScaledObjects, "<namespace>/<name>", sorted, each once
};

/// Thread-safe.
class ScalerEngine {
 public:
  /// `workers`: collection threads shared by every tracked trigger.
  ScalerEngine(trigger::SpecOptions options, EngineDeps deps, Duration idle_forget, size_t workers = 4);
  ~ScalerEngine();

  /// The tracked object for this trigger, creating and starting it on first use.
  /// INVALID_ARGUMENT (every metadata problem at once) when the metadata is bad. Building a
  /// new spec (regexes, discovery) happens outside the engine's lock, but it is still work:
  /// callers on a latency-sensitive thread try Lookup() first.
  Result<std::shared_ptr<TrackedObject>> Resolve(const std::string& ns, const std::string& name,
                                                 const config::Metadata& metadata);

  /// The cached answer for exactly this trigger (namespace, name and the full metadata map),
  /// without building anything: nullopt when it is not cached yet. Marks the entry as used.
  std::optional<Result<std::shared_ptr<TrackedObject>>> Lookup(const std::string& ns, const std::string& name,
                                                               const config::Metadata& metadata);

  std::vector<std::shared_ptr<TrackedObject>> List() const;

  /// Wakes every tracked trigger of namespace/name (the wake hook). Returns how many.
  size_t Wake(const std::string& ns, const std::string& name, TimePoint now, const std::string& reason);

  /// Remembers a wake for namespace/name until `until`: a trigger of it that starts being
  /// tracked before then is woken at once (the wake hook called before KEDA's first call, or
  /// on a replica that does not track it yet). At most 10,000 are remembered.
  void RecordPendingWake(const std::string& ns, const std::string& name, TimePoint until, const std::string& reason);

  /// Wakes every tracked trigger whose pods come from Service namespace/service (ServicesRead),
  /// each once, whatever its ScaledObject's name (the wake hook by Service, issue 18 item 2).
  ServiceWake WakeService(const std::string& ns, const std::string& service, TimePoint now, const std::string& reason);

  /// As RecordPendingWake, for a Service: a trigger that reads it (ServicesRead) and starts
  /// being tracked before `until` is woken at once. Calling it again re-arms the same record.
  /// At most 10,000 are remembered.
  void RecordPendingServiceWake(const std::string& ns, const std::string& service, TimePoint until,
                                const std::string& reason);

  /// Stops and drops every tracked trigger for which `drop` is true (e.g. triggers this replica
  /// no longer owns), logging `why` for each. Returns how many.
  size_t ForgetIf(const std::function<bool(const TrackedObject&)>& drop, const std::string& why);

  /// False (with the reason) when a tracked object's collection is stalled: its last cycle
  /// ended more than 2 x its interval (plus the scrape timeout) ago.
  bool CollectionHealthy(TimePoint now, std::string* why) const;

  /// Stops and drops objects not asked about for `idle_forget`. Returns how many.
  size_t ForgetIdle(TimePoint now);

  void StopAll();

  /// Distinct collection groups (triggers reading the same pods share one).
  size_t collection_groups() const { return collector_.groups(); }

 private:
  /// A trigger's identity: the full metadata is compared, not a hash of it, so no request
  /// can be mistaken for another trigger's (two maps with one hash are two entries).
  struct EntryKey {
    std::string ns;
    std::string name;
    config::Metadata metadata;
    bool operator<(const EntryKey& o) const {
      return std::tie(ns, name, metadata) < std::tie(o.ns, o.name, o.metadata);
    }
  };
  struct Entry {
    Status error;  // non-ok: the metadata is invalid (cached so bad input costs nothing)
    std::shared_ptr<TrackedObject> object;
    TimePoint last_access;
  };
  void Drop(std::vector<std::shared_ptr<TrackedObject>> objects);
  /// Drop() plus what a forgotten trigger leaves behind: its series and a log line.
  void Retire(const std::vector<std::shared_ptr<TrackedObject>>& objects, const std::string& why);

  const trigger::SpecOptions options_;
  const EngineDeps deps_;
  const Duration idle_forget_;
  mutable std::mutex mu_;  // guards entries_; held only for map work, never across I/O
  std::map<EntryKey, Entry> entries_;
  struct PendingWake {
    TimePoint until;
    std::string reason;
  };
  std::map<std::pair<std::string, std::string>, PendingWake> pending_wakes_;  // guarded by mu_
  std::map<ServiceName, PendingWake> pending_service_wakes_;                  // guarded by mu_
  size_t cached_errors_ = 0;                                                  // entries_ holding an error
  size_t tracked_ = 0;                                                        // entries_ holding an object
  Collector collector_;
  WakePoller wake_poller_;
};

}  // namespace nimscaler::engine
