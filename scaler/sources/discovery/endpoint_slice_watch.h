#pragma once
// EndpointSliceWatch: list-then-watch of the discovery.k8s.io/v1 EndpointSlices of one
// Service (label kubernetes.io/service-name=<service>) in one namespace, kept as an
// in-memory cache. One watch is shared by every ScaledObject reading that Service.
// resourceVersion bookkeeping, bookmarks, re-list on 410 Gone, bounded backoff on errors.
// Every document from the API is decoded by endpoint_slice_decode.h (shape checked, sizes
// bounded); a bad one is reported by LastError() and retried, never thrown.
//
// Stopping is O(1) per watch and parallel: a watch's state lives in a WatchCore shared with
// its thread, so stopping only raises a flag (the in-flight request is cancelled within
// ~100 ms for a watch, ~1 s for a list); joining is left to a WatchThreadGroup, which joins
// many stopping threads at once (DiscoveryRegistry::StopAll()).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/net/http_client.h"
#include "scaler/sources/discovery/endpoint_slice_decode.h"
#include "scaler/sources/discovery/kube_api.h"

namespace nimscaler::sources {

class WatchCore;  // endpoint_slice_watch.cc: the cache and the thread's loop

/// Owns the threads of many watches. A watch created with a group hands it its thread; the
/// watch's destructor then only signals the thread, and the group joins it (finished threads
/// are joined on the next Add(); StopAll() and the destructor signal every thread first and
/// then join them all). Thread-safe.
class WatchThreadGroup {
 public:
  WatchThreadGroup() = default;
  ~WatchThreadGroup() { StopAll(); }
  WatchThreadGroup(const WatchThreadGroup&) = delete;
  WatchThreadGroup& operator=(const WatchThreadGroup&) = delete;

  void Add(std::shared_ptr<WatchCore> core, std::thread thread);
  /// Signals every thread, then joins them all; later Add()s are signalled at once.
  void StopAll();
  /// Threads not joined yet (running, or finished and not reaped).
  size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<WatchCore> core;
    std::thread thread;
  };
  mutable std::mutex mu_;  // guards the fields below; never held while joining
  std::vector<Entry> entries_;
  bool stopped_ = false;
};

/// Thread-safe. Construction starts the watch thread.
class EndpointSliceWatch {
 public:
  /// Without a group the watch owns its thread and its destructor joins it; with one, the
  /// destructor only signals the thread and the group joins it.
  EndpointSliceWatch(KubeApiConfig api, std::shared_ptr<net::HttpClient> http, std::string ns, std::string service,
                     WatchThreadGroup* group = nullptr);
  ~EndpointSliceWatch();
  EndpointSliceWatch(const EndpointSliceWatch&) = delete;
  EndpointSliceWatch& operator=(const EndpointSliceWatch&) = delete;

  /// The current endpoints of every slice; UNAVAILABLE (with the last error) until the
  /// first list succeeded.
  Result<std::vector<SliceEndpoint>> Endpoints() const;
  /// The last problem (transport, HTTP status, or a malformed document with where it is
  /// wrong); empty after a successful list.
  std::string LastError() const;
  uint64_t relists() const;
  /// Asks the thread to stop; returns at once.
  void RequestStop();

 private:
  std::shared_ptr<WatchCore> core_;
  std::thread thread_;  // only without a group
};

}  // namespace nimscaler::sources
