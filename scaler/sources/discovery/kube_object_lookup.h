#pragma once
// Whether a KEDA ScaledObject or a Service exists, asked of the Kubernetes API (a GET by name).
// The wake hook uses them to tell an object that exists but that no replica tracks yet (kept,
// 202) from a name that exists nowhere (404).

#include <chrono>
#include <string>

#include "scaler/common/result.h"
#include "scaler/net/http_client.h"
#include "scaler/sources/discovery/kube_api.h"

namespace nimscaler::sources {

/// keda.sh/v1alpha1 scaledobjects/<name>. true: the API answered 200; false: 404. Anything else
/// is an error value naming the status and, for 401/403, what to grant (the chart's RBAC gives
/// `get` on scaledobjects.keda.sh).
Result<bool> ScaledObjectExists(net::HttpClient& http, const KubeApiConfig& api, const std::string& ns,
                                const std::string& name, std::chrono::milliseconds timeout);

/// v1 services/<name>, with the same answers (the chart's RBAC gives `get` on services).
Result<bool> ServiceExists(net::HttpClient& http, const KubeApiConfig& api, const std::string& ns,
                           const std::string& name, std::chrono::milliseconds timeout);

}  // namespace nimscaler::sources
