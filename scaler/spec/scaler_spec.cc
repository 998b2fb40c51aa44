// Exports BuildScalerSpec(), MetadataFields(), DefaultMetricName() and HashMetadata().
#include "scaler/spec/scaler_spec.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <optional>

#include "scaler/common/intern_table.h"
#include "scaler/common/text.h"
#include "scaler/net/url.h"
#include "scaler/sources/front_door_preset.h"

namespace nimscaler::spec {

using config::FieldSpec;
using config::FieldType;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

uint64_t Fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}
}  // namespace

uint64_t HashMetadata(const config::Metadata& metadata) {
  uint64_t h = 14695981039346656037ull;
  for (const auto& [k, v] : metadata) {  // std::map iterates in key order
    h = Fnv1a(h, k);
    h = Fnv1a(h, std::string_view("\0", 1));
    h = Fnv1a(h, v);
    h = Fnv1a(h, std::string_view("\1", 1));
  }
  return h;
}

std::string CanonicalMetadata(const config::Metadata& metadata) {
  size_t size = 0;
  for (const auto& [k, v] : metadata) size += k.size() + v.size() + 2 * (std::to_string(k.size()).size() + 1);
  std::string out;
  out.reserve(size);
  for (const auto& [k, v] : metadata) {  // std::map iterates in key order
    AppendKeyField(&out, k);
    AppendKeyField(&out, v);
  }
  return out;
}

const std::vector<FieldSpec>& MetadataFields() {
  static const std::vector<FieldSpec> kFields = [] {
    std::vector<FieldSpec> f;
    auto add = [&f](FieldSpec s) { f.push_back(std::move(s)); };
    add({.key = "service", .help = "Service whose EndpointSlices list the pods (ScaledObject's namespace)"});
    add({.key = "port",
         .help = "pod port: a number or a port name of the EndpointSlices (default: triton 8002, "
                 "sglang 30000, tgi 80, others 8000)"});
    add({.key = "scheme",
         .type = FieldType::kEnum,
         .default_value = "http",
         .help = "http or https",
         .enum_values = {"http", "https"}});
    add({.key = "dnsName", .help = "headless Service name whose A/AAAA records are the pods"});
    add({.key = "endpoints", .help = "comma-separated metrics URLs (needs --allow-static-endpoints)"});
    add({.key = "engine",
         .type = FieldType::kEnum,
         .default_value = "auto",
         .help = "metric-name preset",
         .enum_values = sources::EngineNames()});
    add({.key = "model", .help = "keep only series whose model_name (or model) label equals this"});
    add({.key = "metricsPath", .help = "metrics path (default: nim /v1/metrics, others /metrics)"});
    add({.key = "targetKvCache",
         .type = FieldType::kDouble,
         .help = "KV-cache fraction (0-1) per replica, e.g. \"0.7\"",
         .min = 0,
         .max = 1,
         .fraction = true});
    add({.key = "targetWaiting",
         .type = FieldType::kDouble,
         .help = "waiting requests per replica, e.g. \"4\"",
         .min = 0});
    add({.key = "targetRunning",
         .type = FieldType::kDouble,
         .help = "running requests per replica, e.g. \"64\"",
         .min = 0});
    add({.key = "targetTtft",
         .type = FieldType::kDuration,
         .help = "time-to-first-token per replica at latencyQuantile, e.g. \"2s\"",
         .min = 0});
    add({.key = "targetItl",
         .type = FieldType::kDuration,
         .help = "inter-token latency at latencyQuantile, e.g. \"50ms\"",
         .min = 0});
    add({.key = "targetE2e",
         .type = FieldType::kDuration,
         .help = "end-to-end request latency at latencyQuantile, e.g. \"20s\"",
         .min = 0});
    add({.key = "latencyQuantile",
         .type = FieldType::kDouble,
         .default_value = "0.95",
         .help = "quantile used by the latency targets, e.g. \"0.95\"",
         .min = 0,
         .max = 1});
    add({.key = "formula", .help = "expression for the desired replica count (default: built from the targets)"});
    add({.key = "activation",
         .default_value = "sum(waiting) + sum(running) > 0",
         .help = "boolean expression for IsActive"});
    add({.key = "signal.", .help = "`signal.<name>: metric{label=\"v\"}` maps a metric to a signal", .prefix = true});
    add({.key = "window",
         .type = FieldType::kDuration,
         .default_value = "60s",
         .help = "stable window for rates, quantiles and smoothing",
         .min = 0,
         .max = 3600});
    add({.key = "panicWindow",
         .type = FieldType::kDuration,
         .help = "short window that reacts to bursts (default: window / 10, at least one scrapeInterval)",
         .min = 0,
         .max = 3600});
    add({.key = "panicThreshold",
         .type = FieldType::kDouble,
         .default_value = "2.0",
         .help = "panic when the panicWindow average reaches this multiple of the ready replicas",
         .min = 1,
         .max = 100});
    add({.key = "startupTime",
         .type = FieldType::kDuration,
         .help = "how long a new pod takes to serve, e.g. \"150s\": the default formula scales on the demand "
                 "predicted that far ahead",
         .min = 0,
         .max = 3600});
    add({.key = "insecureSkipVerify",
         .type = FieldType::kBool,
         .default_value = "false",
         .help = "with scheme https: do not verify the pods' certificates"});
    add({.key = "scrapeInterval",
         .type = FieldType::kDuration,
         .default_value = "2s",
         .help = "collection period, e.g. \"2s\"",
         .min = 0,
         .max = 300});
    add({.key = "metricName", .help = "name reported to KEDA: [a-z0-9.-], at most 120 characters"});
    add({.key = "frontDoor",
         .help = "a front door's metrics: [namespace/]Service[:port] (its EndpointSlices) or an http(s) URL; its "
                 "queue wakes the trigger (docs/front-doors.md)"});
    add({.key = "frontDoorPreset",
         .type = FieldType::kEnum,
         .help = "which front door frontDoor is: its metric names, port and path",
         .enum_values = sources::FrontDoorPresetNames()});
    add({.key = "frontDoorLabels",
         .help = "label=\"value\",... the front door's series must have, e.g. "
                 "route_name=\"chat\",route_namespace=\"llm\""});
    add({.key = "wakeQuery", .help = "PromQL whose value > 0 means demand while at zero (with prometheusAddress)"});
    add({.key = "prometheusAddress",
         .help = "Prometheus base URL for wakeQuery, e.g. http://prometheus.monitoring:9090"});
    add({.key = "wakeHold",
         .type = FieldType::kDuration,
         .default_value = "5m",
         .help = "how long a wake (wakeQuery or the wake hook) keeps the trigger active",
         .min = 0,
         .max = 86400});
    return f;
  }();
  return kFields;
}

std::string DefaultMetricName(const std::string& ns, const std::string& name) {
  std::string out = "nim-";
  for (char c : ToLower(ns + "-" + name)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    out += ok ? c : '-';
  }
  constexpr size_t kMax = 120;
  if (out.size() > kMax) {
    char suffix[20];
    std::snprintf(suffix, sizeof suffix, "-%08x",
                  static_cast<unsigned>(Fnv1a(14695981039346656037ull, ns + "/" + name)));
    out = out.substr(0, kMax - 9) + suffix;
  }
  return out;
}

namespace {

// Whether prometheusAddress `url` (without userinfo) may be used: the server's --prometheus-url,
// an entry of --prometheus-allow (the URL itself or a path under it), "*", or anything when
// static endpoints are allowed.
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

bool PrometheusAllowed(const std::string& url, const SpecOptions& options) {
  if (options.allow_static_endpoints) return true;
  for (const auto& a : options.prometheus_allowed) {
    if (a == "*") return true;
  }
  return PrometheusTrusted(url, options);
}

// Checks one endpoint URL (already without userinfo) and fills in the engine's default path;
// "" on success. A hand-written check: std::regex recurses per input byte.
std::string NormalizeEndpoint(std::string* url, const std::string& default_path) {
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

// A DNS name or an IP literal: letters, digits, '.', '-', '_' and (IPv6) ':'.
bool IsValidDnsName(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  for (unsigned char c : n) {
    if (!(std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':')) return false;
  }
  return true;
}

constexpr size_t kMaxStaticEndpoints = 256;

// [a-z0-9][a-z0-9.-]*, at most 120 characters, not starting with KEDA's prefix s<N>-.
bool IsValidMetricName(const std::string& n) {
  if (n.empty() || n.size() > 120) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '-'));
    if (!ok) return false;
  }
  size_t digits = 1;
  while (digits < n.size() && n[digits] >= '0' && n[digits] <= '9') ++digits;
  return !(n[0] == 's' && digits > 1 && digits < n.size() && n[digits] == '-');
}

// Issue 16 item 3: the same formula over the same signals compiles to one Program that every
// trigger shares (a Program is immutable; each trigger's Evaluator keeps its own windows).
Result<formula::ProgramConstSharedPtr> CompileShared(const std::string& text,
                                                     const std::vector<formula::SignalInfo>& signals) {
  static InternTable<formula::Program> programs;
  std::string key;
  AppendKeyField(&key, text);
  for (const auto& s : signals) {
    AppendKeyField(&key, s.name);
    AppendKeyField(&key, std::to_string(static_cast<int>(s.kind)));
  }
  if (auto shared = programs.Find(key)) return shared;
  auto compiled = formula::Compile(text, signals);
  if (!compiled.ok()) return compiled.status();
  return programs.Intern(key, std::move(compiled).value());
}

// A DNS-1123 label: what Kubernetes accepts as a namespace or Service name.
bool IsDnsLabel(std::string_view n) {
  if (n.empty() || n.size() > 63 || n.front() == '-' || n.back() == '-') return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

// frontDoor and its companions (issue 18 item 1; docs/front-doors.md "Scraping the front door"):
// where the front door's metrics are and which of its series are this trigger's. Appends every
// problem; the front door's own signal.frontdoor_* mappings are passed in.
std::optional<FrontDoorSpec> BuildFrontDoor(const std::string& ns, const config::MetadataValues& v,
                                            std::vector<sources::SignalSource> custom, const SpecOptions& options,
                                            std::vector<std::string>* problems) {
  if (!v.Has("frontDoor")) {
    for (const char* k : {"frontDoorPreset", "frontDoorLabels"}) {
      if (v.Has(k)) problems->push_back(std::string(k) + " describes frontDoor, which is not set; set frontDoor too");
    }
    if (!custom.empty()) {
      problems->push_back("signal." + custom.front().signal + " maps a front-door signal, but frontDoor is not set");
    }
    return std::nullopt;
  }
  FrontDoorSpec fd;
  const sources::EnginePreset* preset = sources::FindFrontDoorPreset(v.String("frontDoorPreset"));
  fd.preset = preset != nullptr ? preset->name : "custom";
  if (preset == nullptr && custom.empty() && !v.Has("frontDoorPreset")) {
    std::string names;
    for (const auto& n : sources::FrontDoorPresetNames()) names += (names.empty() ? "" : ", ") + n;
    problems->push_back("frontDoor: say which front door it is: frontDoorPreset (" + names +
                        "), or map its metrics with signal.frontdoor_waiting / signal.frontdoor_inflight");
  }
  std::map<std::string, std::string> labels;
  if (v.Has("frontDoorLabels")) {
    auto ref = sources::ParseMetricRef("front_door{" + v.String("frontDoorLabels") + "}");
    if (!ref.ok()) {
      problems->push_back("frontDoorLabels: \"" + Truncate(v.String("frontDoorLabels"), 80) +
                          "\" is not a label list like route_name=\"chat\",route_namespace=\"llm\"");
    } else {
      labels = ref->labels;
    }
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
  if (preset != nullptr) {
    for (sources::SignalSource src : preset->signals) {
      for (auto& m : src.metrics) m.labels.insert(labels.begin(), labels.end());
      fd.scrape.custom.push_back(std::move(src));
    }
  }
  for (auto& src : custom) fd.scrape.custom.push_back(std::move(src));  // after the preset's: they win
  for (const auto& src : fd.scrape.custom) {
    if (std::find(fd.scrape.signals.begin(), fd.scrape.signals.end(), src.signal) == fd.scrape.signals.end()) {
      fd.scrape.signals.push_back(src.signal);
    }
  }
  fd.scrape.engine = "";  // the mappings above only

  auto& d = fd.discovery;
  std::string given = v.String("frontDoor");
  d.path = preset != nullptr ? preset->metrics_path : "/metrics";
  if (size_t sep = given.find("://"); sep != std::string::npos) {
    // A URL: its host is resolved at every scrape (every address is scraped, as for dnsName),
    // under dnsName's address rule.
    if (net::SplitCredentials(given).has_credentials) {
      problems->push_back("frontDoor: \"" + Truncate(net::RedactUrl(given), 80) +
                          "\" carries credentials; front doors are scraped without any");
      return std::nullopt;
    }
    std::string url = given;
    if (std::string err = NormalizeEndpoint(&url, d.path); !err.empty()) {
      problems->push_back("frontDoor: \"" + Truncate(given, 80) +
                          "\" is not an http(s) URL like "
                          "\"http://envoy-gateway.llm:19001/stats/prometheus\"");
      return std::nullopt;
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
                          "\" needs a host name or address and a port of "
                          "1-65535");
    }
    fd.scrape.http.refuse_internal_addresses = !options.allow_static_endpoints;
  } else {
    // [namespace/]Service[:port]: every ready endpoint of the Service is scraped and summed.
    d.kind = sources::DiscoveryConfig::Kind::kService;
    d.ns = ns;
    std::string rest = given;
    if (size_t slash = rest.find('/'); slash != std::string::npos) {
      d.ns = rest.substr(0, slash);
      rest = rest.substr(slash + 1);
    }
    d.port = preset != nullptr ? preset->port : "";
    if (size_t colon = rest.find(':'); colon != std::string::npos) {
      d.port = rest.substr(colon + 1);
      rest = rest.substr(0, colon);
    }
    d.service = rest;
    if (!IsDnsLabel(d.ns) || !IsDnsLabel(d.service) || d.port.empty()) {
      problems->push_back("frontDoor: \"" + Truncate(given, 80) +
                          "\" is neither an http(s) URL nor "
                          "[namespace/]Service[:port] (lower-case names" +
                          (d.port.empty() ? "; a port is needed without frontDoorPreset" : "") +
                          "), e.g. "
                          "\"keda/keda-add-ons-http-interceptor-metrics:2223\"");
    }
    if (!options.kube_enabled) {
      problems->push_back(
          "frontDoor: a Service needs Kubernetes discovery, which is off on this server (--kube-api "
          "off, or not running in a cluster); give its URL instead");
    }
    if (!options.namespaces.empty() &&
        std::find(options.namespaces.begin(), options.namespaces.end(), d.ns) == options.namespaces.end()) {
      problems->push_back("frontDoor: namespace \"" + d.ns + "\" is not in this server's --namespaces allow-list");
    }
  }
  return fd;
}

}  // namespace

Result<ScalerSpecConstPtr> BuildScalerSpec(const std::string& ns, const std::string& name,
                                           const config::Metadata& metadata, const SpecOptions& options) {
  // Limits first: past them nothing else is read (issue 19 item 10).
  if (std::string over = config::CheckMetadataLimits(metadata); !over.empty()) {
    return InvalidArgument(config::JoinProblems({over}));
  }
  config::MetadataRead read = config::ReadMetadata(metadata, MetadataFields());
  std::vector<std::string>& problems = read.problems;
  const config::MetadataValues& v = read.values;

  auto spec = std::make_shared<ScalerSpec>();
  spec->key = {ns, name, HashMetadata(metadata)};
  if (name.empty()) problems.push_back("the ScaledObject reference has an empty name");

  // Discovery: exactly one of service, dnsName, endpoints.
  std::string engine = v.String("engine");
  std::string path = v.String("metricsPath");
  if (const sources::EnginePreset* preset = sources::FindPreset(engine); path.empty() && preset != nullptr) {
    path = preset->metrics_path;  // no preset for "auto" or for an invalid engine (reported above)
  }
  if (!path.empty() && path.front() != '/') path = "/" + path;
  auto& d = spec->discovery;
  d.scheme = v.String("scheme");
  const sources::EnginePreset* engine_preset = sources::FindPreset(engine);
  d.port = v.Has("port") ? v.String("port") : engine_preset != nullptr ? engine_preset->port : "8000";
  d.path = path.empty() ? "/metrics" : path;
  d.ns = ns;
  int sources_given = v.Has("service") + v.Has("dnsName") + v.Has("endpoints");
  if (sources_given > 1) {
    problems.push_back("service, dnsName and endpoints are alternatives; set exactly one");
  } else if (sources_given == 0 && !metadata.count("service") && !metadata.count("dnsName") &&
             !metadata.count("endpoints")) {
    problems.push_back(
        "no pods to read: set \"service\" (the model's Service; its EndpointSlices list the "
        "pods), \"dnsName\" or \"endpoints\"");
  }
  bool numeric_port = ParseDouble(d.port).has_value();
  if (numeric_port) {
    double p = *ParseDouble(d.port);
    if (p < 1 || p > 65535 || p != static_cast<int>(p)) {
      problems.push_back("port: \"" + Truncate(d.port, 40) + "\" must be 1-65535 or a port name");
    }
  }
  if (v.Has("service")) {
    d.kind = sources::DiscoveryConfig::Kind::kService;
    d.service = v.String("service");
    if (!options.kube_enabled) {
      problems.push_back(
          "service: Kubernetes discovery is off on this server (--kube-api off, or not running "
          "in a cluster); use dnsName or endpoints");
    }
    if (!options.namespaces.empty() &&
        std::find(options.namespaces.begin(), options.namespaces.end(), ns) == options.namespaces.end()) {
      problems.push_back("service: namespace \"" + ns + "\" is not in this server's --namespaces allow-list");
    }
  } else if (v.Has("dnsName")) {
    d.kind = sources::DiscoveryConfig::Kind::kDns;
    d.dns_name = v.String("dnsName");
    if (!IsValidDnsName(d.dns_name)) {
      problems.push_back("dnsName: \"" + Truncate(net::RedactUrl(d.dns_name), 80) +
                         "\" is not a DNS name or IP address (letters, digits, '.', '-'; at most 253 characters)");
    }
    if (!numeric_port)
      problems.push_back("port: with dnsName the port must be a number, got \"" + Truncate(d.port, 40) + "\"");
    // The name is the author's choice: it may not lead to this host or its link (issue 19
    // item 4). The HTTP client judges every address it connects to, so rebinding cannot help.
    spec->scrape.http.refuse_internal_addresses = !options.allow_static_endpoints;
  } else if (v.Has("endpoints")) {
    d.kind = sources::DiscoveryConfig::Kind::kStatic;
    if (!options.allow_static_endpoints) {
      problems.push_back(
          "endpoints: static endpoints are refused because the server runs without "
          "--allow-static-endpoints (they let a ScaledObject author point the scaler "
          "at any address); ask the operator to enable it, or use service");
    } else {
      // Credentials leave the URLs here: the URLs are the pods' names in logs, /debug and
      // errors, and the credentials go to the HTTP client as basic auth (issue 19 item 6).
      std::vector<std::string> given = SplitTrimmed(v.String("endpoints"), ',');
      if (given.size() > kMaxStaticEndpoints) {
        problems.push_back("endpoints: " + std::to_string(given.size()) + " URLs; at most " +
                           std::to_string(kMaxStaticEndpoints) + " are accepted");
        given.clear();
      }
      std::optional<net::UrlWithCredentials> credentials;
      bool mixed = false;
      for (const std::string& raw : given) {
        net::UrlWithCredentials split = net::SplitCredentials(raw);
        std::string url = split.url;
        if (auto err = NormalizeEndpoint(&url, path); !err.empty()) {
          problems.push_back(err);
          continue;
        }
        d.urls.push_back(url);
        if (!credentials) {
          credentials = split;
        } else {
          mixed = mixed || split.has_credentials != credentials->has_credentials ||
                  split.username != credentials->username || split.password != credentials->password;
        }
      }
      if (mixed) {
        problems.push_back(
            "endpoints: the URLs carry different credentials (user:password@); one trigger "
            "sends one set of credentials to all its endpoints");
      } else if (credentials && credentials->has_credentials) {
        spec->scrape.http.basic_auth = true;
        spec->scrape.http.username = credentials->username;
        spec->scrape.http.password = credentials->password;
      }
    }
  }

  // Targets. With none given (and no formula), the product defaults apply (docs/formula.md "The formula").
  struct TargetKey {
    const char* key;
    const char* signal;
  };
  for (TargetKey t : {TargetKey{"targetKvCache", signals::kKvCache}, TargetKey{"targetWaiting", signals::kWaiting},
                      TargetKey{"targetRunning", signals::kRunning}}) {
    if (auto per_replica = v.Double(t.key)) spec->targets.push_back({t.key, t.signal, *per_replica});
  }
  formula::Targets targets;
  targets.kv_cache = v.Double("targetKvCache");
  targets.waiting = v.Double("targetWaiting");
  targets.running = v.Double("targetRunning");
  if (auto ttft = v.DurationOf("targetTtft")) targets.ttft = ToSeconds(*ttft);
  if (auto itl = v.DurationOf("targetItl")) targets.itl = ToSeconds(*itl);
  if (auto e2e = v.DurationOf("targetE2e")) targets.e2e = ToSeconds(*e2e);
  targets.latency_quantile = v.Double("latencyQuantile").value_or(0.95);
  bool any_target_key = false;
  for (const char* k : {"targetKvCache", "targetWaiting", "targetRunning", "targetTtft", "targetItl", "targetE2e"}) {
    any_target_key = any_target_key || metadata.count(k);
  }
  if (v.Has("formula") && any_target_key) {
    problems.push_back(
        "formula and target* keys are alternatives: the targets only build the default formula; "
        "write them into the formula instead");
  }

  // Custom signals: `signal.<name>: metric{label="v"}`; their kind comes from # TYPE.
  std::vector<formula::SignalInfo> signal_infos = formula::BuiltinSignals();
  std::vector<sources::SignalSource> front_door_custom;  // signal.frontdoor_*
  for (const auto& [signal_name, text] : v.Prefixed("signal.")) {
    auto ref = sources::ParseMetricRef(text);
    if (!ref.ok()) {
      problems.push_back("signal." + signal_name + ": " + ref.status().message());
      continue;
    }
    bool builtin = false;
    for (const auto& b : formula::BuiltinSignals()) builtin = builtin || b.name == signal_name;
    sources::SignalSource src;
    src.signal = signal_name;
    src.kind = SignalKind::kUnknown;
    src.metrics = {*ref};
    if (signals::IsFrontDoorSignal(signal_name)) {
      // Read from the front door, as a level (docs/front-doors.md "Scraping the front door").
      src.kind = SignalKind::kGauge;
      front_door_custom.push_back(src);
      if (!builtin) signal_infos.push_back({signal_name, SignalKind::kGauge});
      continue;
    }
    // A fraction (KV use) is averaged over a pod's series; everything else is summed.
    src.combine = signal_name == signals::kKvCache ? signals::Combine::kAverage : signals::Combine::kSum;
    spec->scrape.custom.push_back(src);
    if (!builtin) signal_infos.push_back({signal_name, SignalKind::kUnknown});
  }

  std::string formula_text;
  if (auto startup = v.DurationOf("startupTime")) targets.startup_time = ToSeconds(*startup);
  if (v.Has("formula")) {
    formula_text = v.String("formula");
    if (v.Has("startupTime")) {
      problems.push_back(
          "startupTime shapes the default formula only; with formula, predict in it yourself, e.g. "
          "max(D, predict(D, " +
          v.String("startupTime") + ")) for your demand D");
    }
  } else {
    if (!any_target_key) {
      targets.kv_cache = 0.8;
      targets.waiting = 4;
      spec->targets = {{"targetKvCache", signals::kKvCache, 0.8}, {"targetWaiting", signals::kWaiting, 4}};
    }
    auto built = formula::DefaultFormula(targets);
    if (built.ok())
      formula_text = *built;
    else
      problems.push_back(built.status().message());
  }
  if (!formula_text.empty()) {
    auto program = CompileShared(formula_text, signal_infos);
    if (program.ok())
      spec->value = *program;
    else
      problems.push_back("formula: " + program.status().message());
  }
  auto activation = CompileShared(v.String("activation"), signal_infos);
  if (activation.ok())
    spec->activation = *activation;
  else
    problems.push_back("activation: " + activation.status().message());

  spec->front_door = BuildFrontDoor(ns, v, std::move(front_door_custom), options, &problems);
  for (const auto* program : {spec->value.get(), spec->activation.get()}) {
    if (program == nullptr) continue;
    for (const auto& use : program->signals()) {
      if (!signals::IsFrontDoorSignal(use.name)) continue;
      if (!spec->front_door) {
        if (v.Has("frontDoor")) continue;  // its problem is reported
        problems.push_back((program == spec->value.get() ? "formula" : "activation") + std::string(" reads ") +
                           use.name + ", which comes from a front door: set frontDoor (docs/front-doors.md)");
      } else if (std::find(spec->front_door->scrape.signals.begin(), spec->front_door->scrape.signals.end(),
                           use.name) == spec->front_door->scrape.signals.end()) {
        problems.push_back((program == spec->value.get() ? "formula" : "activation") + std::string(" reads ") +
                           use.name + ", which frontDoorPreset " + spec->front_door->preset + " does not provide" +
                           (spec->front_door->preset == "http-add-on"
                                ? " (the interceptor counts held and proxied requests together: frontdoor_inflight)"
                                : "") +
                           "; map it with signal." + use.name + ": <metric>");
      }
    }
  }

  spec->wake_query = v.String("wakeQuery");
  {
    // prometheusAddress makes the scaler fetch a URL a ScaledObject author chose: only the
    // operator's --prometheus-url and --prometheus-allow (or any, under --allow-static-endpoints).
    std::string address = v.Has("prometheusAddress") ? v.String("prometheusAddress") : options.prometheus_url;
    net::UrlWithCredentials split = net::SplitCredentials(address);
    if (v.Has("prometheusAddress") && !PrometheusAllowed(split.url, options)) {
      std::string allowed;
      for (const auto& a : options.prometheus_allowed) allowed += (allowed.empty() ? "" : ", ") + a;
      if (!options.prometheus_url.empty()) allowed = options.prometheus_url + (allowed.empty() ? "" : ", " + allowed);
      problems.push_back(
          "prometheusAddress: \"" + Truncate(split.url, 80) + "\" is not allowed by this server (" +
          (allowed.empty() ? std::string("none is: it has no --prometheus-url") : "allowed: " + allowed) +
          "); leave it out to use the server's Prometheus, or ask the operator to add it to "
          "--prometheus-allow");
    }
    spec->prometheus_address = split.url;
    spec->wake_http.timeout = std::chrono::seconds(5);
    spec->wake_http.basic_auth = split.has_credentials;
    spec->wake_http.username = split.username;
    spec->wake_http.password = split.password;
    spec->wake_http.refuse_internal_addresses = !options.allow_static_endpoints;
    if (!address.empty() && PrometheusTrusted(split.url, options)) {
      // The operator's credentials go only where the operator pointed them; an address allowed
      // through "*" or --allow-static-endpoints gets none of them (system CAs, no headers). A
      // ScaledObject's own userinfo credentials, when given, are sent instead of the token.
      spec->wake_http.ca_file = options.prometheus_ca_file;
      spec->wake_http.headers = options.prometheus_headers;
      if (!split.has_credentials) spec->wake_http.bearer_token_file = options.prometheus_bearer_token_file;
    }
  }
  spec->wake_hold = v.DurationOf("wakeHold").value_or(std::chrono::minutes(5));
  if (v.Has("wakeQuery") && spec->prometheus_address.empty()) {
    problems.push_back(
        "wakeQuery needs prometheusAddress (the Prometheus server to ask), or a server started with "
        "--prometheus-url");
  }
  if (v.Has("prometheusAddress") && !v.Has("wakeQuery")) {
    problems.push_back("prometheusAddress is only used by wakeQuery; set both or neither");
  }
  if (!spec->prometheus_address.empty() && spec->prometheus_address.rfind("http://", 0) != 0 &&
      spec->prometheus_address.rfind("https://", 0) != 0) {
    problems.push_back("prometheusAddress: \"" + Truncate(spec->prometheus_address, 80) +
                       "\" must be an http(s) URL like \"http://prometheus.monitoring:9090\"");
  }

  spec->scrape_interval = v.DurationOf("scrapeInterval").value_or(std::chrono::seconds(2));
  spec->window = v.DurationOf("window").value_or(std::chrono::seconds(60));
  // Knative's rule: the panic window is a tenth of the stable window, but never shorter than
  // one scrape (it would hold no sample) nor longer than the window.
  spec->panic_window =
      v.DurationOf("panicWindow").value_or(std::min(spec->window, std::max(spec->window / 10, spec->scrape_interval)));
  if (spec->panic_window > spec->window) {
    problems.push_back("panicWindow: \"" + v.String("panicWindow") + "\" must not be longer than window (" +
                       FormatDuration(spec->window) + ")");
  }
  spec->panic_threshold = v.Double("panicThreshold").value_or(2.0);
  if (v.DurationOf("scrapeInterval") && spec->scrape_interval < options.min_scrape_interval) {
    problems.push_back("scrapeInterval: \"" + v.String("scrapeInterval") + "\" is below this server's minimum of " +
                       FormatDuration(options.min_scrape_interval));
  }
  spec->stale_keep = 3 * spec->scrape_interval;

  if (v.Has("metricName")) {
    spec->metric_name = v.String("metricName");
    if (!IsValidMetricName(spec->metric_name)) {
      problems.push_back("metricName: \"" + Truncate(spec->metric_name, 80) +
                         "\" must match [a-z0-9][a-z0-9.-]*, "
                         "be at most 120 characters and not start with s<N>- (KEDA adds that prefix)");
    }
  } else {
    spec->metric_name = DefaultMetricName(ns, name);
  }

  if (spec->window < spec->scrape_interval * 2) {
    problems.push_back("window: \"" + v.String("window") + "\" must cover at least two scrapes (2 x scrapeInterval = " +
                       FormatDuration(spec->scrape_interval * 2) + "), or rates and quantiles have no data");
  }
  if (!problems.empty()) return InvalidArgument(config::JoinProblems(problems));

  spec->scrape.engine = v.String("engine");
  spec->scrape.model = v.String("model");
  // Collect what the formulas read; waiting and running always (activation, debugging).
  std::vector<std::string> wanted = {signals::kWaiting, signals::kRunning};
  for (const auto* program : {spec->value.get(), spec->activation.get()}) {
    for (const auto& use : program->signals()) {
      if (signals::IsFrontDoorSignal(use.name)) continue;  // the front door's, not the pods'
      if (std::find(wanted.begin(), wanted.end(), use.name) == wanted.end()) wanted.push_back(use.name);
    }
  }
  spec->scrape.signals = wanted;
  spec->scrape.http.insecure_skip_verify = v.Bool("insecureSkipVerify").value_or(false);
  auto timeout = std::min<Duration>(spec->scrape_interval, std::chrono::seconds(5));
  spec->scrape.http.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  if (spec->front_door) spec->front_door->scrape.http.timeout = spec->scrape.http.timeout;
  return ScalerSpecConstPtr(std::move(spec));
}

}  // namespace nimscaler::spec
