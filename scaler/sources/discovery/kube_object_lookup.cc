// Exports ScaledObjectExists() and ServiceExists().
#include "scaler/sources/discovery/kube_object_lookup.h"

#include "scaler/common/text.h"

namespace nimscaler::sources {
namespace {

// GET <base><path>: 200 true, 404 false, else an error naming `what` and, for 401/403, `grant`.
Result<bool> Exists(net::HttpClient& http, const KubeApiConfig& api, const std::string& path, const std::string& what,
                    const std::string& grant, std::chrono::milliseconds timeout) {
  net::HttpRequestOptions options = KubeRequestOptions(api);
  options.timeout = timeout;
  options.max_body_bytes = 1u << 20;
  auto r = http.Get(api.base_url + path, options);
  if (!r.ok()) return r.status();
  if (r->status == 200) return true;
  if (r->status == 404) return false;
  std::string message = "GET " + what + " answered " + std::to_string(r->status);
  if (r->status == 401 || r->status == 403) {
    message += ": the service account may not read it (grant " + grant + "; the chart's RBAC does)";
  } else if (!r->body.empty()) {
    message += ": " + Printable(r->body, 200);
  }
  return Unavailable(message);
}

}  // namespace

// The callers have checked both names (DNS-1123), so they go into the paths as they are.
Result<bool> ScaledObjectExists(net::HttpClient& http, const KubeApiConfig& api, const std::string& ns,
                                const std::string& name, std::chrono::milliseconds timeout) {
  return Exists(http, api, "/apis/keda.sh/v1alpha1/namespaces/" + ns + "/scaledobjects/" + name,
                "scaledobjects.keda.sh " + ns + "/" + name, "`get` on scaledobjects.keda.sh", timeout);
}

Result<bool> ServiceExists(net::HttpClient& http, const KubeApiConfig& api, const std::string& ns,
                           const std::string& name, std::chrono::milliseconds timeout) {
  return Exists(http, api, "/api/v1/namespaces/" + ns + "/services/" + name, "services " + ns + "/" + name,
                "`get` on services", timeout);
}

}  // namespace nimscaler::sources
