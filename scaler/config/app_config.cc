// Exports LoadAppConfig() and ServeOptionDocs(). nlohmann_json stays inside this file.
#include "scaler/config/app_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "scaler/common/text.h"

namespace nimscaler::config {
namespace {

using Setter = std::function<std::string(AppConfig&, const std::string&)>;  // "" = ok

struct Option {
  std::string name;  // flag name without dashes, e.g. "grpc-addr"
  bool is_bool;
  std::string default_value;
  std::string help;
  Setter set;  // for a repeatable option: adds one value
  /// Repeatable options only: forgets the values of a source of lower precedence. Each of
  /// file, environment and flags replaces what the sources before it gave.
  std::function<void(AppConfig&)> reset = nullptr;
};

// Characters of an HTTP header name (RFC 9110 token).
bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// One --prometheus-header: "Name: value" with a token name and a value of printable ASCII
// (no CR, LF or other control byte could start another header). "" = ok.
std::string AddHeader(std::vector<std::string>* headers, const std::string& v) {
  const std::string shown = "value \"" + Printable(v, 80) + "\"";
  size_t colon = v.find(':');
  if (colon == std::string::npos || colon == 0) {
    return shown + " must be \"Name: value\", e.g. \"X-Scope-OrgID: tenant1\"";
  }
  std::string name = v.substr(0, colon);
  for (char c : name) {
    if (!IsTokenChar(static_cast<unsigned char>(c))) {
      return shown + ": the header name \"" + Printable(name, 60) +
             "\" may only hold letters, digits and !#$%&'*+-.^_`|~ (no spaces)";
    }
  }
  std::string value(Trim(std::string_view(v).substr(colon + 1)));
  for (char c : v.substr(colon + 1)) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u >= 0x7f) {
      return shown + ": the header value may only hold printable ASCII (no CR, LF or other control bytes)";
    }
  }
  if (value.empty()) return shown + ": the header has no value";
  std::string lower = ToLower(name);
  if (lower == "authorization") {
    return shown +
           ": give the token with --prometheus-bearer-token-file (a flag's value is visible in the pod "
           "spec and process listings; the file is re-read when it rotates)";
  }
  if (lower == "accept" || lower == "host" || lower == "content-length" || lower == "transfer-encoding" ||
      lower == "connection") {
    return shown + ": the scaler sets " + name + " itself";
  }
  headers->push_back(name + ": " + value);
  return {};
}

std::string SetString(std::string* field, const std::string& v) {
  *field = v;
  return {};
}

std::string SetEnum(std::string* field, const std::string& v, std::vector<std::string> allowed) {
  for (const auto& a : allowed) {
    if (ToLower(v) == a) {
      *field = a;
      return {};
    }
  }
  std::string msg = "value \"" + Truncate(v, 40) + "\" must be one of";
  for (const auto& a : allowed) msg += " " + a;
  if (auto s = SuggestClosest(v, allowed)) msg += " (did you mean \"" + *s + "\"?)";
  return msg;
}

std::string SetDuration(Duration* field, const std::string& v) {
  auto d = ParseDuration(v);
  if (!d) return "value \"" + Truncate(v, 40) + "\" is not a duration like \"500ms\" or \"2s\"";
  *field = *d;
  return {};
}

// The two ports, logging, TLS and what a ScaledObject may point the scaler at.
std::vector<Option> ServerOptions() {
  return {
      {"grpc-addr", false, ":9090", "address of the KEDA gRPC port (host:port, :port for all)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.grpc_addr, v); }},
      {"http-addr", false, ":8080", "address of the HTTP port (/metrics, /healthz, /readyz, /debug)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.http_addr, v); }},
      {"config", false, "", "JSON file with any of these options (keys are the flag names)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.config_file, v); }},
      {"log-format", false, "text", "json or text",
       [](AppConfig& c, const std::string& v) {
         return SetEnum(&c.log_format, v, {"json", "text"});
       }},
      {"log-level", false, "info", "trace, debug, info, warn or error",
       [](AppConfig& c, const std::string& v) {
         return SetEnum(&c.log_level, v, {"trace", "debug", "info", "warn", "error"});
       }},
      {"tls-cert", false, "", "PEM certificate for the gRPC port (enables TLS)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.tls_cert, v); }},
      {"tls-key", false, "", "PEM private key for --tls-cert",
       [](AppConfig& c, const std::string& v) { return SetString(&c.tls_key, v); }},
      {"tls-client-ca", false, "", "PEM CA bundle; when set, clients must present a certificate",
       [](AppConfig& c, const std::string& v) { return SetString(&c.tls_client_ca, v); }},
      {"allow-static-endpoints", true, "false",
       "allow the `endpoints` metadata key (lets ScaledObject authors point the scaler anywhere)",
       [](AppConfig& c, const std::string& v) {
         auto b = ParseBool(v);
         if (!b) return std::string("value \"" + Truncate(v, 40) + "\" must be true or false");
         c.allow_static_endpoints = *b;
         return std::string();
       }},
      {"node-ip", false, "",
       "comma-separated IP addresses of this node (e.g. from status.hostIP); like this host's own "
       "addresses, dnsName and wakeQuery may not reach them unless static endpoints are allowed",
       [](AppConfig& c, const std::string& v) {
         std::vector<std::string> ips = SplitTrimmed(v, ',');
         for (const auto& ip : ips) {
           in6_addr scratch;
           if (inet_pton(AF_INET, ip.c_str(), &scratch) != 1 && inet_pton(AF_INET6, ip.c_str(), &scratch) != 1) {
             return "value \"" + Truncate(ip, 60) + "\" is not an IPv4 or IPv6 address";
           }
         }
         c.node_ips = std::move(ips);
         return std::string();
       }},
  };
}

// Discovery, Prometheus for wakeQuery, collection and shutdown.
std::vector<Option> CollectionOptions() {
  return {
      {"kube-api", false, "auto", "Kubernetes API for discovery: auto, off or a URL",
       [](AppConfig& c, const std::string& v) { return SetString(&c.kube_api, v); }},
      {"namespaces", false, "", "comma-separated allow-list of namespaces that may be watched",
       [](AppConfig& c, const std::string& v) {
         c.namespaces = SplitTrimmed(v, ',');
         return std::string();
       }},
      {"prometheus-url", false, "",
       "Prometheus that wakeQuery asks when a ScaledObject sets no prometheusAddress, e.g. "
       "http://prometheus.monitoring:9090",
       [](AppConfig& c, const std::string& v) { return SetString(&c.prometheus_url, v); }},
      {"prometheus-allow", false, "",
       "comma-separated Prometheus base URLs a ScaledObject's prometheusAddress may name besides --prometheus-url "
       "(* allows any)",
       [](AppConfig& c, const std::string& v) {
         c.prometheus_allowed = SplitTrimmed(v, ',');
         return std::string();
       }},
      {"prometheus-bearer-token-file", false, "",
       "file holding a bearer token sent to --prometheus-url and the addresses listed in --prometheus-allow "
       "(re-read at every query, so a rotated token works)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.prometheus_bearer_token_file, v); }},
      {"prometheus-ca-file", false, "",
       "PEM CA bundle that --prometheus-url's and the listed --prometheus-allow addresses' https certificates "
       "are verified against (default: the system CAs)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.prometheus_ca_file, v); }},
      {"prometheus-header", false, "",
       "extra request header \"Name: value\" for the same Prometheus addresses, e.g. \"X-Scope-OrgID: tenant1\" "
       "(repeat the flag for more; one per line in the environment variable)",
       [](AppConfig& c, const std::string& v) { return AddHeader(&c.prometheus_headers, v); },
       [](AppConfig& c) { c.prometheus_headers.clear(); }},
      {"min-scrape-interval", false, "500ms", "smallest scrapeInterval a ScaledObject may ask for",
       [](AppConfig& c, const std::string& v) { return SetDuration(&c.min_scrape_interval, v); }},
      {"shutdown-grace", false, "5s", "how long SIGTERM waits for running calls",
       [](AppConfig& c, const std::string& v) { return SetDuration(&c.shutdown_grace, v); }},
      {"wake-token-file", false, "",
       "file holding the bearer token the wake hook and /debug require (re-read per call)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.wake_token_file, v); }},
      {"stream-heartbeat", false, "60s", "re-send true on StreamIsActive this often while active (0s: never)",
       [](AppConfig& c, const std::string& v) {
         if (v == "0") {
           c.stream_heartbeat = Duration::zero();
           return std::string();
         }
         return SetDuration(&c.stream_heartbeat, v);
       }},
  };
}

// HA (docs/ha.md) and forgetting triggers.
std::vector<Option> HaOptions() {
  return {
      {"peers-service", false, "",
       "headless Service of this Deployment's replicas: with it, replicas share the triggers (owner and "
       "successor by rendezvous hashing) and forward calls to the owner",
       [](AppConfig& c, const std::string& v) { return SetString(&c.peers_service, v); }},
      {"peers-namespace", false, "", "namespace of --peers-service (default: this pod's namespace)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.peers_namespace, v); }},
      {"peers-port-name", false, "grpc", "name of the gRPC port in the peers' EndpointSlices",
       [](AppConfig& c, const std::string& v) { return SetString(&c.peers_port_name, v); }},
      {"advertise-addr", false, "",
       "this replica's address as its peers see it (podIP:port; needed with "
       "--peers-service)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.advertise_addr, v); }},
      {"peer-tls-server-name", false, "",
       "with TLS: the name peers' certificates are checked against "
       "(default: the Service name the certificate was made for is unknown, "
       "so set this to one of its DNS names)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.peer_tls_server_name, v); }},
      {"peer-tls-ca", false, "",
       "with TLS and --peers-service: PEM bundle of the CA that signs the peers' serving "
       "certificates, re-read while running (default: --tls-client-ca, else --tls-cert "
       "itself, so every replica must present that same certificate)",
       [](AppConfig& c, const std::string& v) { return SetString(&c.peer_tls_ca, v); }},
      {"forget-after", false, "10m",
       "stop collecting a trigger KEDA has not asked about for this long (its series leave /metrics)",
       [](AppConfig& c, const std::string& v) {
         std::string err = SetDuration(&c.idle_forget, v);
         if (err.empty() && c.idle_forget < std::chrono::seconds(1)) err = "must be at least 1s";
         return err;
       }},
      {"peer-forget-after", false, "30s",
       "with --peers-service: stop collecting a trigger this replica neither owns nor succeeds after this "
       "long without a call",
       [](AppConfig& c, const std::string& v) {
         std::string err = SetDuration(&c.peer_forget, v);
         if (err.empty() && c.peer_forget < std::chrono::seconds(1)) err = "must be at least 1s";
         return err;
       }},
  };
}

// Connections: keepalive, their age, idle connections to pods.
std::vector<Option> ConnectionOptions() {
  return {
      {"keepalive-time", false, "60s",
       "send an HTTP/2 ping on a connection idle this long (KEDA configures none; proxies that drop idle "
       "connections then never drop KEDA's)",
       [](AppConfig& c, const std::string& v) {
         std::string err = SetDuration(&c.keepalive_time, v);
         if (err.empty() && c.keepalive_time < std::chrono::seconds(1)) err = "must be at least 1s";
         return err;
       }},
      {"max-connection-age", false, "5m",
       "close client connections after this long (with a grace) so KEDA re-resolves and reaches new replicas "
       "(0s: never)",
       [](AppConfig& c, const std::string& v) {
         if (v == "0") {
           c.max_connection_age = Duration::zero();
           return std::string();
         }
         return SetDuration(&c.max_connection_age, v);
       }},
      {"max-idle-connections", false, "1024",
       "idle keep-alive connections to pods kept for all triggers together; beyond it the least recently used "
       "is closed (0: a new connection per scrape)",
       [](AppConfig& c, const std::string& v) {
         size_t n = 0;
         auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
         if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n > 1000000) {
           return "value \"" + Truncate(v, 40) + "\" must be a whole number from 0 to 1000000";
         }
         c.max_idle_connections = n;
         return std::string();
       }},
  };
}

// Every option, in the order `serve --help` and docs/operations.md "Running the server" list them.
const std::vector<Option>& Options() {
  static const std::vector<Option> kOptions = [] {
    std::vector<Option> all;
    for (auto part : {ServerOptions(), CollectionOptions(), HaOptions(), ConnectionOptions()}) {
      for (auto& o : part) all.push_back(std::move(o));
    }
    return all;
  }();
  return kOptions;
}

std::string EnvName(const std::string& flag) {
  std::string out = "NIM_SCALER_";
  for (char ch : flag) out += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

const Option* FindOption(const std::string& name) {
  for (const auto& o : Options()) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

std::vector<std::string> OptionNames() {
  std::vector<std::string> names;
  for (const auto& o : Options()) names.push_back(o.name);
  return names;
}

std::string UnknownOption(const std::string& where, const std::string& name) {
  std::string msg = "unknown option " + where + " \"" + Truncate(name, 60) + "\"";
  if (auto s = SuggestClosest(name, OptionNames())) msg += " (did you mean \"" + *s + "\"?)";
  return msg;
}

void ApplyFile(AppConfig& cfg, const std::string& path, std::vector<std::string>& problems) {
  std::ifstream in(path);
  if (!in) {
    problems.push_back("--config: cannot read \"" + path + "\"");
    return;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    problems.push_back("--config \"" + path + "\": not valid JSON: " + e.what());
    return;
  }
  if (!doc.is_object()) {
    problems.push_back("--config \"" + path + "\": expected a JSON object of option names");
    return;
  }
  for (const auto& [key, value] : doc.items()) {
    const Option* o = FindOption(key);
    if (o == nullptr || key == "config") {
      problems.push_back("--config \"" + path + "\": " + UnknownOption("key", key));
      continue;
    }
    if (o->reset) {
      // A repeatable option: a string or a list of strings, each one value.
      o->reset(cfg);
      std::vector<nlohmann::json> items =
          value.is_array() ? value.get<std::vector<nlohmann::json>>() : std::vector<nlohmann::json>{value};
      for (const auto& item : items) {
        std::string err =
            item.is_string() ? o->set(cfg, item.get<std::string>()) : "expected a string or a list of strings";
        if (!err.empty()) problems.push_back("--config \"" + path + "\" key \"" + key + "\": " + err);
      }
      continue;
    }
    std::string text;
    if (value.is_string())
      text = value.get<std::string>();
    else if (value.is_boolean())
      text = value.get<bool>() ? "true" : "false";
    else if (value.is_array()) {
      for (const auto& item : value)
        text += (text.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
    } else
      text = value.dump();
    if (auto err = o->set(cfg, text); !err.empty()) {
      problems.push_back("--config \"" + path + "\" key \"" + key + "\": " + err);
    }
  }
}

}  // namespace

std::vector<OptionDoc> ServeOptionDocs() {
  std::vector<OptionDoc> docs;
  for (const auto& o : Options()) docs.push_back({"--" + o.name, EnvName(o.name), o.default_value, o.help});
  return docs;
}

namespace {

using FlagValues = std::vector<std::pair<const Option*, std::string>>;

// The flags, checked but not applied yet (they win, so they are applied last).
FlagValues ParseFlags(const std::vector<std::string>& args, std::vector<std::string>* problems) {
  FlagValues flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      problems->push_back("unexpected argument \"" + Truncate(a, 60) + "\"; options start with --");
      continue;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const Option* o = FindOption(name);
    if (o == nullptr) {
      problems->push_back(UnknownOption("flag", "--" + name));
      continue;
    }
    if (!has_value) {
      if (o->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        problems->push_back("flag --" + name + " needs a value: " + o->help);
        continue;
      }
    }
    flags.emplace_back(o, value);
  }
  return flags;
}

// NIM_SCALER_* variables; a repeatable option's variable holds one value per line.
void ApplyEnv(const std::map<std::string, std::string>& env, AppConfig* cfg, std::vector<std::string>* problems) {
  for (const auto& o : Options()) {
    auto it = env.find(EnvName(o.name));
    if (it == env.end()) continue;
    if (o.reset) {
      o.reset(*cfg);
      for (const auto& line : SplitTrimmed(it->second, '\n')) {
        if (line.empty()) continue;
        if (auto err = o.set(*cfg, line); !err.empty()) problems->push_back(EnvName(o.name) + ": " + err);
      }
      continue;
    }
    if (auto err = o.set(*cfg, it->second); !err.empty()) problems->push_back(EnvName(o.name) + ": " + err);
  }
}

void ApplyFlags(const FlagValues& flags, AppConfig* cfg, std::vector<std::string>* problems) {
  std::vector<const Option*> reset_by_flags;
  for (const auto& [o, v] : flags) {
    if (o->reset && std::find(reset_by_flags.begin(), reset_by_flags.end(), o) == reset_by_flags.end()) {
      o->reset(*cfg);
      reset_by_flags.push_back(o);
    }
    if (auto err = o->set(*cfg, v); !err.empty()) problems->push_back("--" + o->name + ": " + err);
  }
}

// Options that only make sense together.
void CheckCombinations(const AppConfig& cfg, std::vector<std::string>* problems) {
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    problems->push_back("--tls-cert and --tls-key must be given together");
  }
  if (!cfg.tls_client_ca.empty() && cfg.tls_cert.empty()) {
    problems->push_back("--tls-client-ca needs --tls-cert and --tls-key (mTLS runs over TLS)");
  }
  if (!cfg.peer_tls_ca.empty() && (cfg.tls_cert.empty() || cfg.peers_service.empty())) {
    problems->push_back(
        "--peer-tls-ca needs --tls-cert, --tls-key and --peers-service (it checks the other "
        "replicas' certificates)");
  }
  if (cfg.peers_service.empty()) return;
  auto colon = cfg.advertise_addr.rfind(':');
  if (cfg.advertise_addr.empty()) {
    problems->push_back(
        "--peers-service needs --advertise-addr (this replica's podIP:port, e.g. from the downward "
        "API's status.podIP)");
  } else if (colon == std::string::npos || colon == 0 || !ParseDouble(cfg.advertise_addr.substr(colon + 1))) {
    problems->push_back("--advertise-addr: value \"" + Truncate(cfg.advertise_addr, 60) +
                        "\" must be address:port, e.g. 10.1.2.3:9090");
  }
}

}  // namespace

Result<AppConfig> LoadAppConfig(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  std::vector<std::string> problems;
  FlagValues flags = ParseFlags(args, &problems);
  AppConfig cfg;
  std::string file;
  if (auto it = env.find(EnvName("config")); it != env.end()) file = it->second;
  for (const auto& [o, v] : flags) {
    if (o->name == "config") file = v;
  }
  if (!file.empty()) ApplyFile(cfg, file, problems);
  ApplyEnv(env, &cfg, &problems);
  ApplyFlags(flags, &cfg, &problems);
  CheckCombinations(cfg, &problems);
  if (!problems.empty()) {
    std::string msg = "invalid configuration:";
    for (const auto& p : problems) msg += "\n  " + p;
    return InvalidArgument(msg);
  }
  return cfg;
}

}  // namespace nimscaler::config
