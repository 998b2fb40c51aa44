#pragma once
// Whether a KEDA ScaledObject exists, asked of the Kubernetes API (GET of
// keda.sh/v1alpha1 scaledobjects/<name>). The wake hook uses it to tell a ScaledObject that
// exists but that no replica tracks yet (kept, 202) from a name that exists nowhere (404).

#include <chrono>
#include <string>

#include "scaler/common/result.h"
#include "scaler/net/http_client.h"
#include "scaler/sources/discovery/kube_api.h"

namespace nimscaler::sources {

/// true: the API answered 200; false: 404. Anything else is an error value naming the status
/// and, for 401/403, what to grant (the chart's RBAC gives `get` on scaledobjects.keda.sh).
Result<bool> ScaledObjectExists(net::HttpClient& http, const KubeApiConfig& api, const std::string& ns,
                                const std::string& name, std::chrono::milliseconds timeout);

}  // namespace nimscaler::sources
