// The front door a trigger reads besides its pods (issue 18 item 1; docs/front-doors.md "Scraping
// the front door"): where its metrics are (a Service or a URL) and which of its series are this
// trigger's.
#include <algorithm>

#include "scaler/common/text.h"
#include "scaler/net/url.h"
#include "scaler/sources/front_door_preset.h"
#include "scaler/trigger/spec_parts.h"

namespace nimscaler::trigger::parts {
namespace {

// frontDoorLabels, or for a front door that serves every route a problem asking for them.
std::map<std::string, std::string> RouteLabels(const std::string& ns, const TriggerMetadata& m,
                                               const sources::EnginePreset* preset, Problems* problems) {
  if (m.front_door_labels) {
    auto ref = sources::ParseMetricRef("front_door{" + *m.front_door_labels + "}");
    if (ref.ok()) return ref->labels;
    problems->push_back("frontDoorLabels: \"" + Truncate(*m.front_door_labels, 80) +
                        "\" is not a label list like route_name=\"chat\",route_namespace=\"llm\"");
  } else if (preset != nullptr && (preset->name == "http-add-on" || preset->name == "envoy-ai-gateway")) {
    // One interceptor or proxy serves every route: summing them all would wake every model on
    // any model's demand.
    problems->push_back("frontDoorLabels: the " + preset->name +
                        " front door serves every route; name this "
                        "model's, e.g. " +
                        (preset->name == "http-add-on"
                             ? "route_name=\"<InterceptorRoute>\",route_namespace=\"" + ns + "\""
                             : std::string("envoy_cluster_name=\"httproute/") + ns + "/<route>/rule/0\""));
  }
  return {};
}

// The preset's mappings (with the route labels), then signal.frontdoor_*, which win.
void FrontDoorSignals(const sources::EnginePreset* preset, const std::map<std::string, std::string>& labels,
                      std::vector<sources::SignalSource> custom, sources::PodScrapeConfig* scrape) {
  if (preset != nullptr) {
    for (sources::SignalSource src : preset->signals) {
      for (auto& m : src.metrics) m.labels.insert(labels.begin(), labels.end());
      scrape->custom.push_back(std::move(src));
    }
  }
  for (auto& src : custom) scrape->custom.push_back(std::move(src));
  for (const auto& src : scrape->custom) {
    if (std::find(scrape->signals.begin(), scrape->signals.end(), src.signal) == scrape->signals.end()) {
      scrape->signals.push_back(src.signal);
    }
  }
  scrape->engine = "";  // the mappings above only
}

// A URL: its host is resolved at every scrape (every address is scraped, as for dnsName), under
// dnsName's address rule. False when `given` is unusable (a problem is reported).
bool UrlFrontDoor(const std::string& given, const SpecOptions& options, FrontDoorSpec* fd, Problems* problems) {
  if (net::SplitCredentials(given).has_credentials) {
    problems->push_back("frontDoor: \"" + Truncate(net::RedactUrl(given), 80) +
                        "\" carries credentials; front doors are scraped without any");
    return false;
  }
  auto& d = fd->discovery;
  std::string url = given;
  if (std::string err = NormalizeEndpoint(&url, d.path); !err.empty()) {
    problems->push_back("frontDoor: \"" + Truncate(given, 80) +
                        "\" is not an http(s) URL like "
                        "\"http://envoy-gateway.llm:19001/stats/prometheus\"");
    return false;
  }
  d.kind = sources::DiscoveryConfig::Kind::kDns;
  d.scheme = ToLower(url.substr(0, url.find("://")));
  size_t host_begin = url.find("://") + 3;
  size_t host_end = url.find('/', host_begin);
  std::string authority = url.substr(host_begin, host_end - host_begin);
  d.path = url.substr(host_end);
  d.port = d.scheme == "https" ? "443" : "80";
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    d.dns_name = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < authority.size() && authority[close + 1] == ':') {
      d.port = authority.substr(close + 2);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string::npos) {
    d.dns_name = authority.substr(0, colon);
    d.port = authority.substr(colon + 1);
  } else {
    d.dns_name = authority;
  }
  auto port = ParseDouble(d.port);
  if (!IsValidDnsName(d.dns_name) || !port || *port < 1 || *port > 65535 || *port != static_cast<int>(*port)) {
    problems->push_back("frontDoor: \"" + Truncate(given, 80) +
                        "\" needs a host name or address and a port of 1-65535");
  }
  fd->scrape.http.refuse_internal_addresses = !options.allow_static_endpoints;
  return true;
}

// [namespace/]Service[:port]: every ready endpoint of the Service is scraped and summed.
void ServiceFrontDoor(const std::string& ns, const std::string& given, const sources::EnginePreset* preset,
                      const SpecOptions& options, sources::DiscoveryConfig* d, Problems* problems) {
  d->kind = sources::DiscoveryConfig::Kind::kService;
  d->ns = ns;
  std::string rest = given;
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    d->ns = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
  }
  d->port = preset != nullptr ? preset->port : "";
  if (size_t colon = rest.find(':'); colon != std::string::npos) {
    d->port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  d->service = rest;
  if (!IsDnsLabel(d->ns) || !IsDnsLabel(d->service) || d->port.empty()) {
    problems->push_back("frontDoor: \"" + Truncate(given, 80) +
                        "\" is neither an http(s) URL nor "
                        "[namespace/]Service[:port] (lower-case names" +
                        (d->port.empty() ? "; a port is needed without frontDoorPreset" : "") +
                        "), e.g. "
                        "\"keda/keda-add-ons-http-interceptor-metrics:2223\"");
  }
  if (!options.kube_enabled) {
    problems->push_back(
        "frontDoor: a Service needs Kubernetes discovery, which is off on this server (--kube-api "
        "off, or not running in a cluster); give its URL instead");
  }
  if (!NamespaceAllowed(d->ns, options)) {
    problems->push_back("frontDoor: namespace \"" + d->ns + "\" is not in this server's --namespaces allow-list");
  }
}

// Without frontDoor, its companions have nothing to describe.
void CheckNoFrontDoorCompanions(const TriggerMetadata& m, const std::vector<sources::SignalSource>& custom,
                                Problems* problems) {
  if (m.front_door_preset) {
    problems->push_back("frontDoorPreset describes frontDoor, which is not set; set frontDoor too");
  }
  if (m.front_door_labels) {
    problems->push_back("frontDoorLabels describes frontDoor, which is not set; set frontDoor too");
  }
  if (!custom.empty()) {
    problems->push_back("signal." + custom.front().signal + " maps a front-door signal, but frontDoor is not set");
  }
}

}  // namespace

std::optional<FrontDoorSpec> BuildFrontDoor(const std::string& ns, const TriggerMetadata& m,
                                            std::vector<sources::SignalSource> custom, const SpecOptions& options,
                                            Problems* problems) {
  if (!m.front_door) {
    CheckNoFrontDoorCompanions(m, custom, problems);
    return std::nullopt;
  }
  FrontDoorSpec fd;
  const sources::EnginePreset* preset = sources::FindFrontDoorPreset(m.front_door_preset.value_or(""));
  fd.preset = preset != nullptr ? preset->name : "custom";
  if (preset == nullptr && custom.empty() && !m.front_door_preset) {
    std::string names;
    for (const auto& n : sources::FrontDoorPresetNames()) names += (names.empty() ? "" : ", ") + n;
    problems->push_back("frontDoor: say which front door it is: frontDoorPreset (" + names +
                        "), or map its metrics with signal.frontdoor_waiting / signal.frontdoor_inflight");
  }
  FrontDoorSignals(preset, RouteLabels(ns, m, preset, problems), std::move(custom), &fd.scrape);
  fd.discovery.path = preset != nullptr ? preset->metrics_path : "/metrics";
  const std::string& given = *m.front_door;
  if (given.find("://") != std::string::npos) {
    if (!UrlFrontDoor(given, options, &fd, problems)) return std::nullopt;
  } else {
    ServiceFrontDoor(ns, given, preset, options, &fd.discovery, problems);
  }
  return fd;
}

}  // namespace nimscaler::trigger::parts
