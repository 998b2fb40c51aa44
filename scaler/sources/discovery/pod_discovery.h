#pragma once
// PodDiscovery: where the pods of a ScaledObject are. Implementations: StaticDiscovery
// (the `endpoints` key); Kubernetes EndpointSlices and DNS come later.

#include <memory>
#include <string>
#include <vector>

#include "scaler/common/result.h"

namespace nimscaler::sources {

/// One pod's metrics endpoint.
struct PodEndpoint {
  std::string url;     ///< full URL of the metrics endpoint
  bool ready = true;   ///< only ready pods are scraped and counted as replicas
};

/// Lists the pods to scrape now. Implementations are thread-safe.
class PodDiscovery {
 public:
  virtual ~PodDiscovery() = default;
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
