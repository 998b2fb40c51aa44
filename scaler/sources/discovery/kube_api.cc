// Exports ResolveKubeApi() and KubeRequestOptions().
#include "scaler/sources/discovery/kube_api.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "scaler/common/text.h"

namespace nimscaler::sources {

Result<std::optional<KubeApiConfig>> ResolveKubeApi(const std::string& flag,
                                                    const std::map<std::string, std::string>& env,
                                                    const std::string& sa_dir) {
  std::string token = sa_dir + "/token";
  std::string ca = sa_dir + "/ca.crt";
  bool has_token = access(token.c_str(), R_OK) == 0;
  bool has_ca = access(ca.c_str(), R_OK) == 0;
  if (flag == "off") return std::optional<KubeApiConfig>();
  if (flag == "auto") {
    auto host = env.find("KUBERNETES_SERVICE_HOST");
    if (host == env.end() || host->second.empty()) return std::optional<KubeApiConfig>();
    auto port = env.find("KUBERNETES_SERVICE_PORT");
    std::string h = host->second.find(':') != std::string::npos ? "[" + host->second + "]" : host->second;
    return std::optional<KubeApiConfig>(KubeApiConfig{"https://" + h + ":" + (port == env.end() ? "443" : port->second),
                                                      has_token ? token : "", has_ca ? ca : ""});
  }
  if (flag.rfind("http://", 0) == 0 || flag.rfind("https://", 0) == 0) {
    std::string url = flag;
    while (!url.empty() && url.back() == '/') url.pop_back();
    bool https = url.rfind("https://", 0) == 0;
    return std::optional<KubeApiConfig>(KubeApiConfig{url, https && has_token ? token : "", https && has_ca ? ca : ""});
  }
  return InvalidArgument("--kube-api: \"" + Truncate(flag, 60) + "\" must be auto, off or an http(s) URL");
}

net::HttpRequestOptions KubeRequestOptions(const KubeApiConfig& api) {
  net::HttpRequestOptions o;
  o.accept = "application/json";
  o.max_body_bytes = 64u << 20;
  o.ca_file = api.ca_file;
  if (!api.token_file.empty()) {
    // A service-account token is a JWT of a few KiB. Read a bounded amount, and send it only
    // if it is one line of printable ASCII (a stray CR/LF would start another header).
    constexpr size_t kMaxTokenBytes = 64u << 10;
    std::ifstream in(api.token_file, std::ios::binary);
    std::string raw(kMaxTokenBytes + 1, '\0');
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    raw.resize(static_cast<size_t>(in.gcount()));
    std::string token(Trim(raw));
    bool printable = raw.size() <= kMaxTokenBytes &&
                     std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (!token.empty() && printable) o.headers.push_back("Authorization: Bearer " + token);
  }
  return o;
}

}  // namespace nimscaler::sources
