// Exports ScaledObjectExists().
#include "scaler/sources/discovery/scaled_object_lookup.h"

#include "scaler/common/text.h"

namespace nimscaler::sources {

Result<bool> ScaledObjectExists(net::HttpClient& http, const KubeApiConfig& api, const std::string& ns,
                                const std::string& name, std::chrono::milliseconds timeout) {
  // The caller has checked both names (DNS-1123), so they go into the path as they are.
  std::string url = api.base_url + "/apis/keda.sh/v1alpha1/namespaces/" + ns + "/scaledobjects/" + name;
  net::HttpRequestOptions options = KubeRequestOptions(api);
  options.timeout = timeout;
  options.max_body_bytes = 1u << 20;
  auto r = http.Get(url, options);
  if (!r.ok()) return r.status();
  if (r->status == 200) return true;
  if (r->status == 404) return false;
  std::string what = "GET scaledobjects.keda.sh " + ns + "/" + name + " answered " + std::to_string(r->status);
  if (r->status == 401 || r->status == 403) {
    what += ": the service account may not read ScaledObjects (grant `get` on scaledobjects.keda.sh; the chart's "
            "RBAC does)";
  } else if (!r->body.empty()) {
    what += ": " + Printable(r->body, 200);
  }
  return Unavailable(what);
}

}  // namespace nimscaler::sources
