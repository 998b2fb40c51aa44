// Exports StaticDiscovery.
#include <algorithm>

#include "scaler/sources/discovery/pod_discovery.h"

namespace nimscaler::sources {

StaticDiscovery::StaticDiscovery(std::vector<std::string> urls) {
  // Each URL once (the trigger's validation refuses a repeated one; this keeps the list a set
  // for any other caller).
  for (auto& u : urls) {
    if (std::none_of(endpoints_.begin(), endpoints_.end(), [&](const PodEndpoint& e) { return e.url == u; })) {
      endpoints_.push_back({u, u, true, false});
    }
  }
}

Result<std::vector<PodEndpoint>> StaticDiscovery::List() { return endpoints_; }

}  // namespace nimscaler::sources
