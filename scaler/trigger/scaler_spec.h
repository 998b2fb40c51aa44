#pragma once
// ScalerSpec: the validated, immutable view of one ScaledObject trigger, built once from
// its metadata and shared by every request and the collector (Envoy's Config object).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "scaler/common/clock.h"
#include "scaler/common/result.h"
#include "scaler/config/metadata_reader.h"
#include "scaler/formula/formula.h"
#include "scaler/sources/discovery/discovery_registry.h"
#include "scaler/sources/pod_scrape_source.h"
#include "scaler/trigger/trigger_metadata.h"

namespace nimscaler::trigger {

/// Identifies one trigger: KEDA sends the same (namespace, name, metadata) on every call.
struct ScaledObjectKey {
  std::string ns;
  std::string name;
  uint64_t metadata_hash = 0;

  bool operator<(const ScaledObjectKey& o) const {
    return std::tie(ns, name, metadata_hash) < std::tie(o.ns, o.name, o.metadata_hash);
  }
  bool operator==(const ScaledObjectKey& o) const = default;
  std::string ToString() const { return ns + "/" + name; }
};

/// Order-independent hash of a metadata map (FNV-1a over sorted key=value pairs). Not an
/// identity: different maps can share a hash (compare CanonicalMetadata() or the map itself).
uint64_t HashMetadata(const config::Metadata& metadata);

/// A collision-free encoding of a metadata map (issue 19 item 5): every key and value in key
/// order, each preceded by its length in decimal and ':' ("<len>:<key><len>:<value>..."). Two
/// maps are equal exactly when their encodings are equal, whatever bytes keys and values hold.
std::string CanonicalMetadata(const config::Metadata& metadata);

/// The front door a trigger reads besides its pods (frontDoor, issue 18 item 1): where its
/// metrics endpoints are, and how its metrics map to frontdoor_waiting / frontdoor_inflight
/// (docs/front-doors.md "Scraping the front door").
struct FrontDoorSpec {
  std::string preset;                  ///< frontDoorPreset, or "custom" (signal.frontdoor_* only)
  sources::DiscoveryConfig discovery;  ///< a Service's EndpointSlices, or a URL's DNS name
  /// engine "" (no engine preset); custom: the preset's mappings, then signal.frontdoor_*.
  sources::PodScrapeConfig scrape;
};

/// Immutable once built; thread-safe to share.
struct ScalerSpec {
  ScaledObjectKey key;
  std::string metric_name;  ///< name reported to KEDA (KEDA prefixes it with s<N>-)
  double target_size = 1;   ///< the value is a replica count, so the HPA target is 1
  sources::DiscoveryConfig discovery;
  sources::PodScrapeConfig scrape;
  std::optional<FrontDoorSpec> front_door;  ///< frontDoor; none without it
  Duration scrape_interval{};
  Duration stale_keep{};                            ///< how long a failed pod's last gauges are kept (3 x interval)
  Duration window = std::chrono::seconds(60);       ///< stable window: rates, quantiles, smoothing
  Duration panic_window = std::chrono::seconds(6);  ///< short window for bursts
  double panic_threshold = 2.0;                     ///< panic at this multiple of the ready replicas (panicThreshold)
  formula::ProgramConstSharedPtr value;             ///< desired replicas
  formula::ProgramConstSharedPtr activation;        ///< IsActive (non-zero is true)
  std::string wake_query;                           ///< PromQL whose value > 0 means demand (empty: none)
  std::string prometheus_address;                   ///< where wake_query runs; without userinfo (safe to show)
  /// Request options for wake_query: timeout, basic-auth credentials taken out of
  /// prometheusAddress, the address rule (refuse_internal_addresses unless the server
  /// allows static endpoints), and for a trusted address the server's bearer token file, CA
  /// file and headers (SpecOptions). Pass them to PrometheusQuerySource.
  net::HttpRequestOptions wake_http;
  Duration wake_hold = std::chrono::minutes(5);  ///< how long a wake keeps the trigger active

  /// The formula as compiled, e.g. "max(sum(kv_cache)/0.1)".
  std::string FormulaText() const { return value ? value->text() : ""; }
};
using ScalerSpecConstPtr = std::shared_ptr<const ScalerSpec>;

/// Server-side policy that metadata cannot override.
struct SpecOptions {
  bool allow_static_endpoints = false;
  Duration min_scrape_interval = std::chrono::milliseconds(500);
  bool kube_enabled = true;             ///< `service` needs a Kubernetes API (--kube-api)
  std::vector<std::string> namespaces;  ///< --namespaces allow-list; empty: any
  /// --prometheus-url: where wakeQuery runs when prometheusAddress is not set (empty: nowhere).
  std::string prometheus_url;
  /// --prometheus-allow: base URLs prometheusAddress may name besides prometheus_url ("*": any).
  /// With allow_static_endpoints any address is allowed, as for `endpoints`.
  std::vector<std::string> prometheus_allowed;
  /// --prometheus-bearer-token-file, --prometheus-ca-file, --prometheus-header: go into wake_http
  /// only for prometheus_url and addresses under a listed prometheus_allowed entry (not "*", not
  /// allow_static_endpoints), so a ScaledObject cannot send them anywhere else.
  std::string prometheus_bearer_token_file;
  std::string prometheus_ca_file;
  std::vector<std::string> prometheus_headers;
};

/// Validates `metadata` and builds the spec; every problem is in one INVALID_ARGUMENT (a
/// bounded message: config::JoinProblems). Maps over config::MetadataLimits are refused first,
/// naming the key and the limit. Any map gives a spec or an error, never a crash.
///
/// URLs are stored without userinfo (discovery.urls, prometheus_address): credentials go to
/// scrape.http / wake_http as basic auth, so every URL in a spec may be logged and shown. With
/// dnsName and without allow_static_endpoints, scrape.http.refuse_internal_addresses is set:
/// the name may not resolve to loopback, link-local or this host's own addresses.
Result<ScalerSpecConstPtr> BuildScalerSpec(const std::string& ns, const std::string& name,
                                           const config::Metadata& metadata, const SpecOptions& options);

/// The metric name used when `metricName` is not set: "nim-<namespace>-<name>", lower-case,
/// only [a-z0-9.-], at most 120 characters (a hash suffix keeps long names distinct).
std::string DefaultMetricName(const std::string& ns, const std::string& name);

}  // namespace nimscaler::trigger
