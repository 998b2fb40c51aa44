#pragma once
// How nim-scaler reaches the Kubernetes API: in-cluster (service-account token and CA,
// KUBERNETES_SERVICE_HOST/_PORT), an explicit URL (--kube-api URL, for tests and
// out-of-cluster use), or not at all (--kube-api off).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/net/http_client.h"

namespace nimscaler::sources {

struct KubeApiConfig {
  std::string base_url;    ///< e.g. "https://10.96.0.1:443"
  std::string token_file;  ///< bearer token, re-read for every request (it rotates); may be empty
  std::string ca_file;     ///< CA bundle for https; empty: system store
};

/// Resolves `--kube-api` (auto | off | URL). auto: in-cluster when KUBERNETES_SERVICE_HOST
/// is set, otherwise none. Returns nullopt when Kubernetes discovery is off.
Result<std::optional<KubeApiConfig>> ResolveKubeApi(
    const std::string& flag, const std::map<std::string, std::string>& env,
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

/// Request options for the API: Authorization from the token file (read now), CA.
net::HttpRequestOptions KubeRequestOptions(const KubeApiConfig& api);

}  // namespace nimscaler::sources
