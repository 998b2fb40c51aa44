#pragma once
// PodDiscovery: where the pods of a ScaledObject are. Implementations: static URLs
// (`endpoints`), Kubernetes EndpointSlices (`service`), DNS records (`dnsName`). They are
// built by DiscoveryRegistry from a DiscoveryConfig.

#include <memory>
#include <string>
#include <vector>

#include "scaler/common/result.h"

namespace nimscaler::sources {

/// One pod's metrics endpoint.
struct PodEndpoint {
  std::string url;           ///< full URL of the metrics endpoint
  std::string name;          ///< pod name when known (EndpointSlice targetRef), else the address
  bool ready = true;         ///< only ready pods are scraped and counted as replicas
  bool terminating = false;  ///< on its way out: neither scraped nor counted as a replica
};

/// Lists the pods to scrape now. Implementations are thread-safe.
class PodDiscovery {
 public:
  virtual ~PodDiscovery() = default;
  /// Every known pod, ready or not (not-ready pods count in `pods`, not in `replicas`).
  /// UNAVAILABLE while the source has never been read successfully.
  virtual Result<std::vector<PodEndpoint>> List() = 0;
};

/// A fixed list of URLs.
class StaticDiscovery final : public PodDiscovery {
 public:
  explicit StaticDiscovery(std::vector<std::string> urls);
  Result<std::vector<PodEndpoint>> List() override;

 private:
  std::vector<PodEndpoint> endpoints_;
};

}  // namespace nimscaler::sources
