// Exports StaticDiscovery.
#include "scaler/sources/discovery/pod_discovery.h"

namespace nimscaler::sources {

StaticDiscovery::StaticDiscovery(std::vector<std::string> urls) {
  for (auto& u : urls) endpoints_.push_back({u, u, true, false});
}

Result<std::vector<PodEndpoint>> StaticDiscovery::List() { return endpoints_; }

}  // namespace nimscaler::sources
