// wakeQuery: the PromQL a trigger asks a Prometheus server while at zero, where it may ask it
// (prometheusAddress, under the server's allow-list) and with which credentials.
#include "scaler/common/text.h"
#include "scaler/net/url.h"
#include "scaler/trigger/spec_parts.h"

namespace nimscaler::trigger::parts {
namespace {

// Whether `url` is the base URL `base` or a path under it (both without userinfo; any case).
bool UnderBase(const std::string& url, const std::string& base) {
  auto trimmed = [](std::string u) {
    while (!u.empty() && u.back() == '/') u.pop_back();
    return ToLower(u);
  };
  std::string want = trimmed(url);
  std::string b = trimmed(net::SplitCredentials(base).url);
  return !b.empty() && (want == b || want.rfind(b + "/", 0) == 0);
}

// Whether prometheusAddress `url` (without userinfo) names a Prometheus the operator listed:
// --prometheus-url or an entry of --prometheus-allow other than "*". Only these get the
// server's bearer token, CA file and headers.
bool PrometheusTrusted(const std::string& url, const SpecOptions& options) {
  if (!options.prometheus_url.empty() && UnderBase(url, options.prometheus_url)) return true;
  for (const auto& a : options.prometheus_allowed) {
    if (a != "*" && UnderBase(url, a)) return true;
  }
  return false;
}

// Whether prometheusAddress `url` (without userinfo) may be used: a trusted address, "*" in
// --prometheus-allow, or anything when static endpoints are allowed.
bool PrometheusAllowed(const std::string& url, const SpecOptions& options) {
  if (options.allow_static_endpoints) return true;
  for (const auto& a : options.prometheus_allowed) {
    if (a == "*") return true;
  }
  return PrometheusTrusted(url, options);
}

std::string NotAllowedProblem(const std::string& url, const SpecOptions& options) {
  std::string allowed;
  for (const auto& a : options.prometheus_allowed) allowed += (allowed.empty() ? "" : ", ") + a;
  if (!options.prometheus_url.empty()) allowed = options.prometheus_url + (allowed.empty() ? "" : ", " + allowed);
  return "prometheusAddress: \"" + Truncate(url, 80) + "\" is not allowed by this server (" +
         (allowed.empty() ? std::string("none is: it has no --prometheus-url") : "allowed: " + allowed) +
         "); leave it out to use the server's Prometheus, or ask the operator to add it to "
         "--prometheus-allow";
}

}  // namespace

void BuildWake(const TriggerMetadata& m, const SpecOptions& options, ScalerSpec* spec, Problems* problems) {
  spec->wake_query = m.wake_query.value_or("");
  // prometheusAddress makes the scaler fetch a URL a ScaledObject author chose: only the
  // operator's --prometheus-url and --prometheus-allow (or any, under --allow-static-endpoints).
  const std::string address = m.prometheus_address.value_or(options.prometheus_url);
  const net::UrlWithCredentials split = net::SplitCredentials(address);
  if (m.prometheus_address && !PrometheusAllowed(split.url, options)) {
    problems->push_back(NotAllowedProblem(split.url, options));
  }
  spec->prometheus_address = split.url;
  auto& http = spec->wake_http;
  http.timeout = std::chrono::seconds(5);
  http.basic_auth = split.has_credentials;
  http.username = split.username;
  http.password = split.password;
  http.refuse_internal_addresses = !options.allow_static_endpoints;
  if (!address.empty() && PrometheusTrusted(split.url, options)) {
    // The operator's credentials go only where the operator pointed them; an address allowed
    // through "*" or --allow-static-endpoints gets none of them (system CAs, no headers). A
    // ScaledObject's own userinfo credentials, when given, are sent instead of the token.
    http.ca_file = options.prometheus_ca_file;
    http.headers = options.prometheus_headers;
    if (!split.has_credentials) http.bearer_token_file = options.prometheus_bearer_token_file;
  }
  spec->wake_hold = m.wake_hold;
  if (m.wake_query && spec->prometheus_address.empty()) {
    problems->push_back(
        "wakeQuery needs prometheusAddress (the Prometheus server to ask), or a server started with "
        "--prometheus-url");
  }
  if (m.prometheus_address && !m.wake_query) {
    problems->push_back("prometheusAddress is only used by wakeQuery; set both or neither");
  }
  const std::string& a = spec->prometheus_address;
  if (!a.empty() && a.rfind("http://", 0) != 0 && a.rfind("https://", 0) != 0) {
    problems->push_back("prometheusAddress: \"" + Truncate(a, 80) +
                        "\" must be an http(s) URL like \"http://prometheus.monitoring:9090\"");
  }
}

}  // namespace nimscaler::trigger::parts
