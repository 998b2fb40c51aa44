// Exports DiscoveryRegistry, DnsDiscovery, DiscoveryKey(), MetricsUrl() and the EndpointSlice-backed
// PodDiscovery.
#include "scaler/sources/discovery/discovery_registry.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <set>

#include "scaler/common/text.h"

namespace nimscaler::sources {

std::string DiscoveryKey(const DiscoveryConfig& d) {
  const auto& [kind, urls, ns, service, dns_name, port, scheme, path] = d;
  std::string key;
  AppendKeyField(&key, std::to_string(static_cast<int>(kind)));
  for (const std::string* v : {&ns, &service, &dns_name, &port, &scheme, &path}) AppendKeyField(&key, *v);
  AppendKeyField(&key, std::to_string(urls.size()));
  for (const auto& u : urls) AppendKeyField(&key, u);
  return key;
}

std::string DiscoveryConfig::Describe() const {
  switch (kind) {
    case Kind::kStatic: return std::to_string(urls.size()) + " static endpoint(s)";
    case Kind::kService: return "Service " + ns + "/" + service + " port " + port;
    case Kind::kDns: return "DNS " + dns_name + " port " + port;
  }
  return "";
}

std::string MetricsUrl(const std::string& scheme, const std::string& address, int port, const std::string& path) {
  std::string host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  return scheme + "://" + host + ":" + std::to_string(port) + path;
}

namespace {

std::optional<int> PortNumber(const std::string& port) {
  auto d = ParseDouble(port);
  if (!d || *d < 1 || *d > 65535 || *d != static_cast<int>(*d)) return std::nullopt;
  return static_cast<int>(*d);
}

/// Pods behind a Service, from its shared EndpointSlice watch.
class EndpointSliceDiscovery final : public PodDiscovery {
 public:
  EndpointSliceDiscovery(DiscoveryConfig config, std::shared_ptr<EndpointSliceWatch> watch)
      : config_(std::move(config)), watch_(std::move(watch)), number_(PortNumber(config_.port)) {}

  Result<std::vector<PodEndpoint>> List() override {
    auto eps = watch_->Endpoints();
    if (!eps.ok()) return eps.status();
    std::vector<PodEndpoint> out;
    std::map<std::string, size_t> seen;  // url -> index in out
    std::set<std::string> names;
    for (const auto& e : *eps) {
      int port = 0;
      if (number_) {
        port = *number_;  // a number is the pod's port, whatever the Service exposes
      } else if (auto it = e.ports.find(config_.port); it != e.ports.end()) {
        port = it->second;
      } else {
        for (const auto& [n, p] : e.ports) names.insert(n.empty() ? "(unnamed)" : n);
        continue;
      }
      PodEndpoint pe;
      pe.url = MetricsUrl(config_.scheme, e.address, port, config_.path);
      pe.name = e.pod.empty() ? e.address : e.pod;
      // Terminating pods still drain requests but are on their way out: not a replica.
      pe.terminating = e.terminating;
      pe.ready = e.ready && !e.terminating;
      // An endpoint may sit in two slices for a while (the API allows it while slices are
      // rebalanced): one pod, listed once, ready if either copy says so.
      if (auto [it, added] = seen.try_emplace(pe.url, out.size()); !added) {
        PodEndpoint& first = out[it->second];
        first.ready = first.ready || pe.ready;
        first.terminating = first.terminating && pe.terminating;
        continue;
      }
      out.push_back(std::move(pe));
    }
    if (out.empty() && !names.empty()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      return FailedPrecondition(config_.Describe() + ": no port named \"" + config_.port +
                                "\" in its EndpointSlices (they have: " + list + ")");
    }
    return out;
  }

 private:
  DiscoveryConfig config_;
  std::shared_ptr<EndpointSliceWatch> watch_;
  std::optional<int> number_;
};

}  // namespace

Result<std::vector<PodEndpoint>> DnsDiscovery::List() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(config_.dns_name.c_str(), nullptr, &hints, &res);
  if (rc != 0) return Unavailable("dnsName " + config_.dns_name + ": " + gai_strerror(rc));
  std::set<std::string> addresses;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, buf, sizeof buf);
    } else if (a->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, buf, sizeof buf);
    } else {
      continue;
    }
    addresses.insert(buf);
  }
  freeaddrinfo(res);
  int port = PortNumber(config_.port).value_or(0);
  std::vector<PodEndpoint> out;
  for (const auto& a : addresses) out.push_back({MetricsUrl(config_.scheme, a, port, config_.path), a, true, false});
  return out;
}

DiscoveryRegistry::DiscoveryRegistry(std::optional<KubeApiConfig> api, std::shared_ptr<net::HttpClient> http)
    : api_(std::move(api)), http_(std::move(http)) {}

DiscoveryRegistry::~DiscoveryRegistry() { StopAll(); }

void DiscoveryRegistry::StopAll() { threads_.StopAll(); }

std::shared_ptr<EndpointSliceWatch> DiscoveryRegistry::WatchFor(const std::string& ns, const std::string& service) {
  std::lock_guard lock(mu_);
  if (auto it = watches_.find({ns, service}); it != watches_.end()) {
    if (auto existing = it->second.lock()) return existing;
  }
  // Drop entries whose watch is gone so the map does not grow without bound.
  std::erase_if(watches_, [](const auto& kv) { return kv.second.expired(); });
  auto watch = std::make_shared<EndpointSliceWatch>(*api_, http_, ns, service, &threads_);
  watches_[{ns, service}] = watch;
  return watch;
}

Result<std::unique_ptr<PodDiscovery>> DiscoveryRegistry::Make(const DiscoveryConfig& config) {
  switch (config.kind) {
    case DiscoveryConfig::Kind::kStatic:
      return std::unique_ptr<PodDiscovery>(std::make_unique<StaticDiscovery>(config.urls));
    case DiscoveryConfig::Kind::kDns: return std::unique_ptr<PodDiscovery>(std::make_unique<DnsDiscovery>(config));
    case DiscoveryConfig::Kind::kService:
      if (!api_) {
        return InvalidArgument(
            "service: Kubernetes discovery is off on this server (--kube-api off, or not "
            "running in a cluster); use endpoints or dnsName");
      }
      return std::unique_ptr<PodDiscovery>(
          std::make_unique<EndpointSliceDiscovery>(config, WatchFor(config.ns, config.service)));
  }
  return Internal("unknown discovery kind");
}

}  // namespace nimscaler::sources
