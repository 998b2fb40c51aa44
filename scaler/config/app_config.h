#pragma once
// AppConfig: the server's own configuration (docs/operations.md "Running the server"), from flags, environment
// variables NIM_SCALER_<FLAG> and an optional JSON file. Precedence: flag > env > file >
// default. Bad configuration is a startup error that names the option and what is expected.

#include <map>
#include <string>
#include <vector>

#include "scaler/common/clock.h"
#include "scaler/common/result.h"

namespace nimscaler::config {

struct AppConfig {
  std::string grpc_addr = ":9090";
  std::string http_addr = ":8080";
  std::string config_file;
  std::string log_format = "text";  ///< json | text
  std::string log_level = "info";   ///< trace | debug | info | warn | error
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  bool allow_static_endpoints = false;
  /// The node's IP addresses (the chart passes status.hostIP): like this host's own, dnsName
  /// and wakeQuery may not reach them unless static endpoints are allowed. Numeric IPs only.
  std::vector<std::string> node_ips;
  std::string kube_api = "auto";  ///< auto | off | URL
  std::vector<std::string> namespaces;
  std::string prometheus_url;                   ///< --prometheus-url: wakeQuery's Prometheus by default
  std::vector<std::string> prometheus_allowed;  ///< --prometheus-allow: other prometheusAddress values
  /// Sent only to the trusted Prometheus addresses (--prometheus-url and the entries listed in
  /// --prometheus-allow, never through "*" or --allow-static-endpoints; docs/operations.md "Security and limits", Which
  /// Prometheus).
  std::string prometheus_bearer_token_file;     ///< --prometheus-bearer-token-file (re-read per query)
  std::string prometheus_ca_file;               ///< --prometheus-ca-file: PEM CA bundle for https
  std::vector<std::string> prometheus_headers;  ///< --prometheus-header (repeatable): "Name: value"
  Duration min_scrape_interval = std::chrono::milliseconds(500);
  Duration idle_forget = std::chrono::minutes(10);  ///< forget objects nobody asked about
  /// HA: stop collecting a trigger this replica neither owns nor succeeds after this long unused.
  Duration peer_forget = std::chrono::seconds(30);
  Duration shutdown_grace = std::chrono::seconds(5);
  std::string wake_token_file;                           ///< bearer token guarding the wake hook (re-read per call)
  Duration stream_heartbeat = std::chrono::seconds(60);  ///< re-send `true` while active; 0: never
  /// HA (docs/ha.md): the replicas' headless Service in this pod's namespace ("" = alone).
  std::string peers_service;
  std::string peers_namespace;                            ///< default: the pod's namespace (service account)
  std::string peers_port_name = "grpc";                   ///< the gRPC port's name in the peers' EndpointSlices
  std::string advertise_addr;                             ///< this replica as peers list it, "podIP:port"
  std::string peer_tls_server_name;                       ///< TLS name to check on peers' certificates
  std::string peer_tls_ca;                                ///< CA bundle that signs peers' serving certificates
  Duration max_connection_age = std::chrono::minutes(5);  ///< clients re-resolve and spread
  Duration keepalive_time = std::chrono::seconds(60);     ///< server HTTP/2 pings on idle connections
  /// Idle keep-alive connections to pods kept for all triggers together (least recently used
  /// closed first; 0: none). net::CurlClientOptions::max_idle_connections.
  size_t max_idle_connections = 1024;
};

/// One documented option, for `--help` and docs/operations.md "Running the server".
struct OptionDoc {
  std::string flag;  ///< e.g. "--grpc-addr"
  std::string env;   ///< e.g. "NIM_SCALER_GRPC_ADDR"
  std::string default_value;
  std::string help;
};
std::vector<OptionDoc> ServeOptionDocs();

/// Builds the configuration from `args` (the words after `serve`), `env` and the JSON file
/// named by --config / NIM_SCALER_CONFIG. Every problem is reported at once.
Result<AppConfig> LoadAppConfig(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

}  // namespace nimscaler::config
