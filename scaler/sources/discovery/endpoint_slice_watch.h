#pragma once
// EndpointSliceWatch: list-then-watch of the discovery.k8s.io/v1 EndpointSlices of one
// Service (label kubernetes.io/service-name=<service>) in one namespace, kept as an
// in-memory cache. One watch is shared by every ScaledObject reading that Service.
// resourceVersion bookkeeping, bookmarks, re-list on 410 Gone, bounded backoff on errors.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "scaler/common/clock.h"
#include "scaler/common/result.h"
#include "scaler/net/http_client.h"
#include "scaler/sources/discovery/kube_api.h"

namespace nimscaler::sources {

/// One endpoint (pod address) of an EndpointSlice.
struct SliceEndpoint {
  std::string address;
  std::string pod;  ///< targetRef.name, may be empty
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::map<std::string, int> ports;  ///< port name ("" for unnamed) -> number, from the slice
};

/// Thread-safe. Construction starts the watch thread; destruction stops it.
class EndpointSliceWatch {
 public:
  EndpointSliceWatch(KubeApiConfig api, std::shared_ptr<net::HttpClient> http, std::string ns,
                     std::string service);
  ~EndpointSliceWatch();
  EndpointSliceWatch(const EndpointSliceWatch&) = delete;
  EndpointSliceWatch& operator=(const EndpointSliceWatch&) = delete;

  /// The current endpoints of every slice; UNAVAILABLE (with the last error) until the
  /// first list succeeded.
  Result<std::vector<SliceEndpoint>> Endpoints() const;
  std::string LastError() const;
  uint64_t relists() const { return relists_.load(); }

 private:
  void Run();
  Status List();
  Status Watch();
  bool ApplyEvent(std::string_view line, bool* relist);
  std::string Path() const;

  const KubeApiConfig api_;
  const std::shared_ptr<net::HttpClient> http_;
  const std::string ns_;
  const std::string service_;

  mutable std::mutex mu_;  // guards the fields below
  std::map<std::string, std::vector<SliceEndpoint>> slices_;  // slice name -> endpoints
  std::string resource_version_;
  bool synced_ = false;
  std::string last_error_;

  std::atomic<uint64_t> relists_{0};
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread thread_;
};

}  // namespace nimscaler::sources
