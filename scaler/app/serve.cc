// Exports RunServe(): wiring, signal handling and graceful shutdown (housekeeping: health_monitor.h).
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "scaler/app/app.h"
#include "scaler/app/health_monitor.h"
#include "scaler/app/tls_credentials.h"
#include "scaler/cluster/membership.h"
#include "scaler/cluster/rendezvous.h"
#include "scaler/cluster/router.h"
#include "scaler/common/allocator.h"
#include "scaler/common/text.h"
#include "scaler/common/version.h"
#include "scaler/engine/scaler_engine.h"
#include "scaler/http/admin_server.h"
#include "scaler/net/address_policy.h"
#include "scaler/net/bearer_token.h"
#include "scaler/net/http_client.h"
#include "scaler/net/url.h"
#include "scaler/service/async_calls.h"
#include "scaler/service/external_scaler_service.h"
#include "scaler/service/grpc_log_bridge.h"
#include "scaler/service/health_service.h"
#include "scaler/sources/discovery/discovery_registry.h"
#include "scaler/sources/discovery/kube_object_lookup.h"
#include "scaler/telemetry/logging.h"
#include "scaler/telemetry/scaler_metrics.h"

namespace nimscaler::app {
namespace {

std::string GrpcListenAddress(const std::string& addr) {
  if (!addr.empty() && addr.front() == ':') return "[::]" + addr;
  return addr;
}

// Every signal the serve process handles itself. They are blocked in every thread (the mask
// is inherited by the threads started after it is set) and taken only by WaitForShutdownSignal().
sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&set, sig);
  return set;
}

// Returns SIGTERM or SIGINT. SIGHUP, SIGUSR1 and SIGUSR2 (whose default action ends the
// process with no drain and no log line) are logged and ignored: nothing needs reloading.
int WaitForShutdownSignal(const std::shared_ptr<spdlog::logger>& log) {
  sigset_t set = HandledSignals();
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGTERM || sig == SIGINT) return sig;
    if (sig == SIGHUP) {
      log->info(
          "received SIGHUP: ignored; TLS certificates and token files are re-read automatically "
          "when they change, and other settings need a restart");
    } else {
      log->info("received {}: ignored (only SIGTERM and SIGINT stop the scaler)",
                sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
    }
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The namespace of --peers-service: the flag, else the pod's own (service account).
std::string PeersNamespace(const config::AppConfig& c) {
  if (!c.peers_namespace.empty()) return c.peers_namespace;
  if (const char* ns = std::getenv("POD_NAMESPACE")) return ns;
  return std::string(Trim(ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")));
}

// Every trigger's pods, watch and peer connection is a descriptor: run with as many as the
// system allows (the soft limit is often 1024 while the hard one is far higher). Running out
// would fail scrapes and leave /healthz unanswered.
void RaiseDescriptorLimit(const std::shared_ptr<spdlog::logger>& log) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max) return;
  rlim_t before = r.rlim_cur;
  r.rlim_cur = r.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &r) == 0) {
    log->info("open file limit raised from {} to {}", static_cast<unsigned long long>(before),
              static_cast<unsigned long long>(r.rlim_cur));
  }
}

// Issue 14 item 5: the files of --prometheus-bearer-token-file and --prometheus-ca-file must be
// readable at startup (a mount missing from the pod spec is a clear error, not a failing
// wakeQuery later). The token is checked, never shown.
Status CheckPrometheusClientFiles(const config::AppConfig& c) {
  if (!c.prometheus_bearer_token_file.empty()) {
    auto token = net::ReadBearerToken(c.prometheus_bearer_token_file);
    if (!token.ok()) return InvalidArgument("--prometheus-bearer-token-file: " + token.status().message());
  }
  if (!c.prometheus_ca_file.empty()) {
    std::ifstream in(c.prometheus_ca_file);
    if (!in) {
      return InvalidArgument("--prometheus-ca-file: cannot read \"" + c.prometheus_ca_file +
                             "\": " + std::strerror(errno));
    }
    std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return InvalidArgument("--prometheus-ca-file: \"" + c.prometheus_ca_file +
                             "\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
  }
  return {};
}

// What the server sends to which Prometheus, for the startup log: file paths and header names,
// never the token or a header's value.
void LogPrometheusClient(const config::AppConfig& c, const std::shared_ptr<spdlog::logger>& log) {
  std::vector<std::string> what;
  if (!c.prometheus_bearer_token_file.empty()) what.push_back("bearer token from " + c.prometheus_bearer_token_file);
  if (!c.prometheus_ca_file.empty()) what.push_back("CA file " + c.prometheus_ca_file);
  for (const auto& h : c.prometheus_headers) what.push_back("header " + h.substr(0, h.find(':')));
  if (what.empty()) return;
  std::vector<std::string> to;
  if (!c.prometheus_url.empty()) to.push_back(net::RedactUrl(c.prometheus_url));
  for (const auto& a : c.prometheus_allowed) {
    if (a != "*") to.push_back(net::RedactUrl(a));
  }
  std::string list;
  for (const auto& w : what) list += (list.empty() ? "" : ", ") + w;
  if (to.empty()) {
    log->warn(
        "wakeQuery: {} apply to no address: set --prometheus-url or list addresses in --prometheus-allow "
        "(\"*\" and --allow-static-endpoints never get them)",
        list);
    return;
  }
  std::string targets;
  for (const auto& t : to) targets += (targets.empty() ? "" : ", ") + t;
  log->info("wakeQuery: {} for {} and paths under them", list, targets);
}

// Process-wide settings, before any thread starts.
void PrepareProcess(const config::AppConfig& config) {
  // Block the handled signals in every thread we start; only WaitForShutdownSignal() takes
  // them. A peer closing a socket we write to is an error value, never a SIGPIPE.
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Abseil as packaged by Debian 12 is built with its debug checks on: every absl::Mutex lock
  // inside gRPC also updated a process-wide lock graph for deadlock detection (GraphCycles:
  // several percent of a forwarded call's CPU, and a global lock every call thread takes).
  // Off, as in an optimized Abseil build; our own locks are std::mutex and unaffected.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  UseFixedMmapThreshold();
  telemetry::SetupLogging(config.log_format, config.log_level);
  service::RouteGrpcLogsToSpdlog();  // gRPC's own lines too, as JSON under --log-format json
}

// --kube-api resolved against this process's environment; logs what discovery will use.
Result<std::optional<sources::KubeApiConfig>> ResolveKube(const config::AppConfig& config,
                                                          const std::shared_ptr<spdlog::logger>& log) {
  std::map<std::string, std::string> env;
  for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  auto kube = sources::ResolveKubeApi(config.kube_api, env);
  if (!kube.ok()) return kube;
  if (kube->has_value()) {
    log->info("Kubernetes discovery via {}{}", net::RedactUrl((*kube)->base_url),
              (*kube)->token_file.empty() ? "" : " (service-account token)");
  } else {
    log->info("Kubernetes discovery off (--kube-api {}): ScaledObjects may use dnsName{}", config.kube_api,
              config.allow_static_endpoints ? " or endpoints" : "");
  }
  return kube;
}

trigger::SpecOptions MakeSpecOptions(const config::AppConfig& config, bool kube_enabled) {
  return {config.allow_static_endpoints,
          config.min_scrape_interval,
          kube_enabled,
          config.namespaces,
          config.prometheus_url,
          config.prometheus_allowed,
          config.prometheus_bearer_token_file,
          config.prometheus_ca_file,
          config.prometheus_headers};
}

// HA (docs/ha.md): the replicas of the peers Service share the triggers out. All null without
// --peers-service.
struct HaParts {
  std::unique_ptr<cluster::Membership> membership;
  std::unique_ptr<cluster::Router> router;
  std::unique_ptr<service::PeerClient> peers;
};

Result<HaParts> StartHa(const config::AppConfig& config, bool kube_enabled, sources::DiscoveryRegistry* discovery,
                        const Clock* clock, CertificateReloader* tls_reloader, service::CallLoop* loop,
                        const std::shared_ptr<spdlog::logger>& log) {
  HaParts ha;
  if (config.peers_service.empty()) return ha;
  if (!kube_enabled) return InvalidArgument("--peers-service needs Kubernetes discovery (--kube-api is off)");
  std::string ns = PeersNamespace(config);
  if (ns.empty()) return InvalidArgument("--peers-service: cannot tell this pod's namespace; set --peers-namespace");
  int own_port = std::stoi(config.advertise_addr.substr(config.advertise_addr.rfind(':') + 1));
  ha.membership = std::make_unique<cluster::Membership>(
      config.advertise_addr, discovery->WatchFor(ns, config.peers_service), config.peers_port_name, own_port, clock);
  ha.router = std::make_unique<cluster::Router>(ha.membership.get(), clock);
  // With TLS, peers are checked against PeerCaFile() and this replica presents its own
  // certificate, from the reloader's copies (tls_credentials.h), like KEDA reaches them.
  ha.peers = std::make_unique<service::PeerClient>(MakePeerChannelCredentials(tls_reloader),
                                                   config.peer_tls_server_name, loop);
  log->info("HA: replicas are the ready endpoints of Service {}/{}; this one is {}", ns, config.peers_service,
            config.advertise_addr);
  return ha;
}

// The gRPC port: KEDA's service and grpc.health.v1 on `loop`, with keepalive, request bounds and
// the maximum connection age. Null when it cannot listen; *port is the bound port.
std::unique_ptr<grpc::Server> StartGrpcServer(const config::AppConfig& config,
                                              const std::shared_ptr<grpc::ServerCredentials>& creds,
                                              service::ExternalScalerService* service, service::HealthService* health,
                                              service::CallLoop* loop, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(GrpcListenAddress(config.grpc_addr), creds, port);
  // The port is ours alone: with gRPC's default SO_REUSEPORT a second server on the same port
  // starts and silently takes half of KEDA's connections (issue 14 item 5).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(service);
  builder.RegisterService(health);
  loop->Attach(&builder);
  // KEDA configures no keepalive; our pings notice dead operator connections.
  builder.AddChannelArgument(
      GRPC_ARG_KEEPALIVE_TIME_MS,
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(config.keepalive_time).count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Bounds on what one client can make us hold (issue 19 item 10; request_limits.h).
  builder.SetMaxReceiveMessageSize(service::kMaxRequestBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, service::kMaxStreamsPerConnection);
  if (config.max_connection_age > Duration::zero()) {
    // KEDA's client resolves the headless Service only when a connection ends: a bounded age
    // lets it reach replicas added later. Streams end cleanly (OK) within their own age, before
    // the grace runs out, so KEDA's stream backoff stays at 2 s.
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(config.max_connection_age).count();
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, static_cast<int>(age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, static_cast<int>(age + 30000));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || *port == 0) return nullptr;
  return server;
}

// What the HTTP port asks the cluster and the peers: whether a woken ScaledObject or Service
// exists, and with HA who owns a trigger and where a wake is broadcast.
void WireAdmin(http::AdminServer* admin, const std::optional<sources::KubeApiConfig>& kube,
               const std::shared_ptr<net::HttpClient>& http, cluster::Router* router,
               service::ExternalScalerService* service) {
  if (kube.has_value()) {
    // A wake for a ScaledObject or a Service that exists nowhere gets 404 (issue 12 item 4,
    // issue 18 item 2).
    admin->SetScaledObjectLookup([http, api = *kube](const std::string& ns, const std::string& name) {
      return sources::ScaledObjectExists(*http, api, ns, name, std::chrono::seconds(2));
    });
    admin->SetServiceLookup([http, api = *kube](const std::string& ns, const std::string& name) {
      return sources::ServiceExists(*http, api, ns, name, std::chrono::seconds(2));
    });
  }
  if (router == nullptr) return;
  admin->SetWakeBroadcast(
      [service](const std::string& ns, const std::string& name) { return service->BroadcastWake(ns, name); });
  admin->SetOwnership([router](const engine::TrackedObject& o) {
    const auto& k = o.spec().key;
    cluster::Owners owners = router->OwnersOf(cluster::TriggerKey(k.ns, k.name, k.metadata_hash));
    return http::Ownership{owners.owner, owners.successor, owners.Includes(router->self())};
  });
}

// After SIGTERM: streams end, calls being answered finish (up to --shutdown-grace), then the
// port and the call loop stop.
void DrainGrpc(const config::AppConfig& config, service::HealthService* health, service::ExternalScalerService* service,
               service::CallLoop* loop, grpc::Server* server, service::PeerClient* peers,
               const std::shared_ptr<spdlog::logger>& log) {
  health->Shutdown();
  service->FinishAllStreams();
  // gRPC's own Shutdown(deadline) would wait out the whole grace while KEDA keeps an idle
  // connection open: wait for the calls ourselves, then stop at once.
  auto grace_end = std::chrono::steady_clock::now() + config.shutdown_grace;
  if (!service->WaitIdle(grace_end)) {
    log->warn("calls still running after --shutdown-grace {}; cancelling them", FormatDuration(config.shutdown_grace));
  }
  // Streams ended above normally finish within milliseconds; one whose client stopped reading
  // has a write blocked by flow control that never completes. Cancel those and drain their
  // operations while the completion queue still runs (issue 19 item 3b).
  auto now = std::chrono::steady_clock::now();
  size_t cancelled = loop->CancelStreams(std::min(grace_end, now + std::chrono::milliseconds(500)),
                                         std::max(grace_end, now + std::chrono::seconds(2)));
  if (cancelled > 0) log->info("cancelled {} stream(s) whose client was not reading", cancelled);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  service->Stop();
  if (peers) peers->CancelAll();  // warm and wake calls still in flight: the loop drains at once
  loop->Stop();                   // no gRPC operation starts after this (CallLoop's gate)
}

// --kube-api and the Prometheus client's files, checked (and logged) before anything starts.
Result<std::optional<sources::KubeApiConfig>> CheckStartup(const config::AppConfig& config,
                                                           const std::shared_ptr<spdlog::logger>& log) {
  auto kube = ResolveKube(config, log);
  if (!kube.ok()) return kube;
  if (Status files = CheckPrometheusClientFiles(config); !files.ok()) return files;
  LogPrometheusClient(config, log);
  return kube;
}

service::ExternalScalerService::Options ServiceOptions(const config::AppConfig& config, const HaParts& ha) {
  service::ExternalScalerService::Options o;
  o.router = ha.router.get();
  o.peers = ha.peers.get();
  o.max_stream_age = std::chrono::duration_cast<std::chrono::milliseconds>(config.max_connection_age);
  return o;
}

// Whether the replica may serve (gRPC health and /readyz); when not, why.
bool Ready(const config::AppConfig& config, const std::atomic<bool>& shutting_down,
           const cluster::Membership* membership, const engine::ScalerEngine& engine, const Clock& clock,
           std::string* why) {
  if (shutting_down.load()) {
    *why = "shutting down";
    return false;
  }
  // With HA, a replica that has not read its peers yet would answer as if it were alone.
  if (membership != nullptr && !membership->Known()) {
    *why = "HA: the peers Service " + config.peers_service + " has not been listed yet";
    return false;
  }
  return engine.CollectionHealthy(clock.Now(), why);
}

}  // namespace

int RunServe(const config::AppConfig& config) {
  PrepareProcess(config);
  auto log = telemetry::Logger("app");
  log->info("nim-scaler {} starting", kVersion);
  RaiseDescriptorLimit(log);
  auto kube = CheckStartup(config, log);
  if (!kube.ok()) {
    log->error("{}", kube.status().message());
    return 2;
  }

  // dnsName and wakeQuery may not reach this node's own addresses either (issue 19 item 4).
  net::SetNodeAddresses(config.node_ips);
  SystemClock clock;
  telemetry::ScalerMetrics metrics;
  auto http =
      std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient({.max_idle_connections = config.max_idle_connections}));
  sources::DiscoveryRegistry discovery(*kube, http);
  engine::EngineDeps deps{http, &discovery, &clock, &metrics, config.stream_heartbeat};
  engine::ScalerEngine engine(MakeSpecOptions(config, kube->has_value()), deps, config.idle_forget);

  // Declared before the server and the peer client: both read its checked copies of the files.
  std::unique_ptr<CertificateReloader> tls_reloader;
  auto creds = MakeServerCredentials(config, &tls_reloader);  // TLS/mTLS (tls_credentials.h)
  if (!creds.ok()) {
    log->error("{}", creds.status().message());
    return 2;
  }
  // One completion queue and one thread serve every call of the gRPC port (async_calls.h), and
  // the calls this replica makes to its peers. Declared before the services, so it stops after
  // they have answered everything.
  service::CallLoop loop;
  auto ha = StartHa(config, kube->has_value(), &discovery, &clock, tls_reloader.get(), &loop, log);
  if (!ha.ok()) {
    log->error("{}", ha.status().message());
    return 2;
  }
  service::ExternalScalerService service(&engine, &metrics, &clock, ServiceOptions(config, *ha));
  service::HealthService health;
  int grpc_port = 0;
  std::unique_ptr<grpc::Server> server = StartGrpcServer(config, *creds, &service, &health, &loop, &grpc_port);
  if (!server) {
    log->error("cannot listen on --grpc-addr {} (in use or invalid)", config.grpc_addr);
    return 2;
  }
  // NOT_SERVING until the monitor's first pass, and when collection stalls; "liveness" SERVING
  // until shutdown.
  HealthMonitor::SetReadiness(&health, false);
  health.Set("liveness", true);
  service.Start(&loop);
  health.Start(&loop);
  loop.Start();

  std::atomic<bool> shutting_down{false};
  auto ready = [&](std::string* why) { return Ready(config, shutting_down, ha->membership.get(), engine, clock, why); };
  http::AdminServer admin(&engine, &metrics, &clock, ready, config.wake_token_file);
  WireAdmin(&admin, *kube, http, ha->router.get(), &service);
  if (Status s = admin.Start(config.http_addr); !s.ok()) {
    log->error("--http-addr: {}", s.message());
    server->Shutdown();
    return 2;
  }
  HealthMonitor monitor({&engine, &health, ha->router.get(), &clock, ready, config.peer_forget});
  monitor.Start();
  log->info("serving grpc_port={} http_port={} tls={} static_endpoints={}", grpc_port, admin.port(),
            config.tls_cert.empty() ? "off" : (config.tls_client_ca.empty() ? "on" : "mutual"),
            config.allow_static_endpoints ? "allowed" : "refused");

  int sig = WaitForShutdownSignal(log);
  log->info("received {}; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  shutting_down.store(true);
  DrainGrpc(config, &health, &service, &loop, server.get(), ha->peers.get(), log);
  monitor.Stop();
  discovery.StopAll();  // every watch signalled at once, then joined together
  engine.StopAll();
  admin.Stop();
  log->info("stopped");
  return 0;
}

}  // namespace nimscaler::app
