// Where a trigger's pods are: service, dnsName or endpoints (with port, scheme and metricsPath),
// and the URL and name checks the front door shares.
#include <algorithm>
#include <cctype>

#include "scaler/common/text.h"
#include "scaler/net/url.h"
#include "scaler/trigger/spec_parts.h"

namespace nimscaler::trigger::parts {
namespace {

constexpr size_t kMaxStaticEndpoints = 256;

// The metrics path: metricsPath, else the engine preset's, else "" (auto: none known).
std::string MetricsPath(const TriggerMetadata& m) {
  std::string path = m.metrics_path.value_or("");
  if (const sources::EnginePreset* preset = sources::FindPreset(m.engine); path.empty() && preset != nullptr) {
    path = preset->metrics_path;  // no preset for "auto" or for an invalid engine (reported by the reader)
  }
  if (!path.empty() && path.front() != '/') path = "/" + path;
  return path;
}

void ServiceDiscovery(const std::string& ns, const TriggerMetadata& m, const SpecOptions& options,
                      sources::DiscoveryConfig* d, Problems* problems) {
  d->kind = sources::DiscoveryConfig::Kind::kService;
  d->service = *m.service;
  if (!options.kube_enabled) {
    problems->push_back(
        "service: Kubernetes discovery is off on this server (--kube-api off, or not running "
        "in a cluster); use dnsName or endpoints");
  }
  if (!NamespaceAllowed(ns, options)) {
    problems->push_back("service: namespace \"" + ns + "\" is not in this server's --namespaces allow-list");
  }
}

void DnsDiscovery(const TriggerMetadata& m, const SpecOptions& options, bool numeric_port, ScalerSpec* spec,
                  Problems* problems) {
  auto& d = spec->discovery;
  d.kind = sources::DiscoveryConfig::Kind::kDns;
  d.dns_name = *m.dns_name;
  if (!IsValidDnsName(d.dns_name)) {
    problems->push_back("dnsName: \"" + Truncate(net::RedactUrl(d.dns_name), 80) +
                        "\" is not a DNS name or IP address (letters, digits, '.', '-'; at most 253 characters)");
  }
  if (!numeric_port) {
    problems->push_back("port: with dnsName the port must be a number, got \"" + Truncate(d.port, 40) + "\"");
  }
  // The name is the author's choice: it may not lead to this host or its link (issue 19
  // item 4). The HTTP client judges every address it connects to, so rebinding cannot help.
  spec->scrape.http.refuse_internal_addresses = !options.allow_static_endpoints;
}

// Credentials leave the URLs here: the URLs are the pods' names in logs, /debug and errors, and
// the credentials go to the HTTP client as basic auth (issue 19 item 6).
void StaticDiscovery(const TriggerMetadata& m, const SpecOptions& options, const std::string& path, ScalerSpec* spec,
                     Problems* problems) {
  spec->discovery.kind = sources::DiscoveryConfig::Kind::kStatic;
  if (!options.allow_static_endpoints) {
    problems->push_back(
        "endpoints: static endpoints are refused because the server runs without "
        "--allow-static-endpoints (they let a ScaledObject author point the scaler "
        "at any address); ask the operator to enable it, or use service");
    return;
  }
  std::vector<std::string> given = SplitTrimmed(*m.endpoints, ',');
  if (given.size() > kMaxStaticEndpoints) {
    problems->push_back("endpoints: " + std::to_string(given.size()) + " URLs; at most " +
                        std::to_string(kMaxStaticEndpoints) + " are accepted");
    given.clear();
  }
  std::optional<net::UrlWithCredentials> credentials;
  bool mixed = false;
  for (const std::string& raw : given) {
    net::UrlWithCredentials split = net::SplitCredentials(raw);
    std::string url = split.url;
    if (auto err = NormalizeEndpoint(&url, path); !err.empty()) {
      problems->push_back(err);
      continue;
    }
    if (std::find(spec->discovery.urls.begin(), spec->discovery.urls.end(), url) != spec->discovery.urls.end()) {
      problems->push_back("endpoints: " + url +
                          " is listed twice; list each pod once (twice, it would count as two replicas)");
      continue;
    }
    spec->discovery.urls.push_back(url);
    if (!credentials) {
      credentials = split;
    } else {
      mixed = mixed || split.has_credentials != credentials->has_credentials ||
              split.username != credentials->username || split.password != credentials->password;
    }
  }
  if (mixed) {
    problems->push_back(
        "endpoints: the URLs carry different credentials (user:password@); one trigger "
        "sends one set of credentials to all its endpoints");
  } else if (credentials && credentials->has_credentials) {
    spec->scrape.http.basic_auth = true;
    spec->scrape.http.username = credentials->username;
    spec->scrape.http.password = credentials->password;
  }
}

}  // namespace

void BuildDiscovery(const std::string& ns, const TriggerMetadata& m, const SpecOptions& options, ScalerSpec* spec,
                    Problems* problems) {
  const std::string path = MetricsPath(m);
  auto& d = spec->discovery;
  d.scheme = m.scheme;
  const sources::EnginePreset* engine_preset = sources::FindPreset(m.engine);
  d.port = m.port ? *m.port : engine_preset != nullptr ? engine_preset->port : "8000";
  d.path = path.empty() ? "/metrics" : path;
  d.ns = ns;
  int sources_given = m.service.has_value() + m.dns_name.has_value() + m.endpoints.has_value();
  if (sources_given > 1) {
    problems->push_back("service, dnsName and endpoints are alternatives; set exactly one");
  } else if (sources_given == 0 && !m.Given("service") && !m.Given("dnsName") && !m.Given("endpoints")) {
    problems->push_back(
        "no pods to read: set \"service\" (the model's Service; its EndpointSlices list the "
        "pods), \"dnsName\" or \"endpoints\"");
  }
  std::optional<double> numeric_port = ParseDouble(d.port);
  if (numeric_port &&
      (*numeric_port < 1 || *numeric_port > 65535 || *numeric_port != static_cast<int>(*numeric_port))) {
    problems->push_back("port: \"" + Truncate(d.port, 40) + "\" must be 1-65535 or a port name");
  }
  if (m.service) {
    ServiceDiscovery(ns, m, options, &d, problems);
  } else if (m.dns_name) {
    DnsDiscovery(m, options, numeric_port.has_value(), spec, problems);
  } else if (m.endpoints) {
    StaticDiscovery(m, options, path, spec, problems);
  }
}

std::string NormalizeEndpoint(std::string* url, const std::string& default_path) {
  // A hand-written check: std::regex recurses per input byte.
  const std::string& u = *url;
  size_t sep = u.find("://");
  std::string scheme = sep == std::string::npos ? std::string() : ToLower(u.substr(0, sep));
  size_t host_begin = sep == std::string::npos ? 0 : sep + 3;
  size_t host_end = std::min(u.find_first_of("/?#", host_begin), u.size());
  bool ok =
      (scheme == "http" || scheme == "https") && host_end > host_begin && (host_end == u.size() || u[host_end] == '/');
  for (unsigned char c : u) ok = ok && c > ' ' && c != 0x7f;
  if (!ok) {
    return "endpoints: \"" + Truncate(u, 80) +
           "\" is not an http(s) URL like "
           "\"http://10.0.0.7:8000/v1/metrics\"";
  }
  if (host_end == u.size() || u.substr(host_end) == "/") {
    if (default_path.empty()) {
      return "endpoints: \"" + Truncate(u, 80) +
             "\" has no path and engine is auto; "
             "write the full URL (e.g. .../v1/metrics for NIM) or set metricsPath";
    }
    *url = u.substr(0, sep) + "://" + u.substr(host_begin, host_end - host_begin) + default_path;
  }
  return {};
}

bool IsValidDnsName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':'; });
}

bool IsDnsLabel(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool NamespaceAllowed(const std::string& ns, const SpecOptions& options) {
  return options.namespaces.empty() ||
         std::find(options.namespaces.begin(), options.namespaces.end(), ns) != options.namespaces.end();
}

}  // namespace nimscaler::trigger::parts
