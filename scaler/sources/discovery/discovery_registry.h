#pragma once
// DiscoveryRegistry: builds the PodDiscovery of a ScaledObject from its DiscoveryConfig,
// sharing one EndpointSliceWatch per (namespace, Service) among every ScaledObject that
// reads the same Service.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/net/http_client.h"
#include "scaler/sources/discovery/endpoint_slice_watch.h"
#include "scaler/sources/discovery/kube_api.h"
#include "scaler/sources/discovery/pod_discovery.h"

namespace nimscaler::sources {

/// Where a ScaledObject's pods come from (validated by spec/).
struct DiscoveryConfig {
  enum class Kind { kStatic, kService, kDns };
  Kind kind = Kind::kStatic;
  std::vector<std::string> urls;  ///< kStatic: full metrics URLs
  std::string ns;                 ///< kService: the ScaledObject's namespace
  std::string service;            ///< kService
  std::string dns_name;           ///< kDns
  std::string port = "8000";      ///< number, or (kService) a port name from the EndpointSlice
  std::string scheme = "http";
  std::string path = "/metrics";

  /// A short description for logs and debug output: "service nim/llama port http".
  std::string Describe() const;
};

/// Every field of `d`, length-prefixed into one string: configs with equal keys discover the
/// same pods. Built from all members by name, so a new member must be added to it to compile.
std::string DiscoveryKey(const DiscoveryConfig& d);

/// Every A/AAAA record of a name, re-resolved on each List().
class DnsDiscovery final : public PodDiscovery {
 public:
  explicit DnsDiscovery(DiscoveryConfig config) : config_(std::move(config)) {}
  Result<std::vector<PodEndpoint>> List() override;

 private:
  DiscoveryConfig config_;
};

/// Thread-safe.
class DiscoveryRegistry {
 public:
  DiscoveryRegistry(std::optional<KubeApiConfig> api, std::shared_ptr<net::HttpClient> http);
  /// Stops every watch (StopAll()).
  ~DiscoveryRegistry();
  DiscoveryRegistry(const DiscoveryRegistry&) = delete;
  DiscoveryRegistry& operator=(const DiscoveryRegistry&) = delete;

  bool kube_enabled() const { return api_.has_value(); }
  Result<std::unique_ptr<PodDiscovery>> Make(const DiscoveryConfig& config);

  /// The shared watch of a Service (created on first use). Exposed for tests.
  std::shared_ptr<EndpointSliceWatch> WatchFor(const std::string& ns, const std::string& service);

  /// Stops every watch at once: all are signalled (each cancels its request in flight), then
  /// all are joined, so shutdown takes about one watch's stop time, not the sum. Watches
  /// dropped earlier never block: their destructor only signals (WatchThreadGroup). Watches
  /// made after this stop at once. Idempotent.
  void StopAll();
  /// Watch threads not joined yet. Exposed for tests.
  size_t watch_threads() const { return threads_.size(); }

 private:
  const std::optional<KubeApiConfig> api_;
  const std::shared_ptr<net::HttpClient> http_;
  std::mutex mu_;  // guards watches_
  std::map<std::pair<std::string, std::string>, std::weak_ptr<EndpointSliceWatch>> watches_;
  WatchThreadGroup threads_;  // owns every watch's thread
};

/// Builds "scheme://host:port/path", bracketing IPv6 addresses.
std::string MetricsUrl(const std::string& scheme, const std::string& address, int port, const std::string& path);

}  // namespace nimscaler::sources
