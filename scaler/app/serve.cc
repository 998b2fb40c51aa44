// Exports RunServe(): wiring, health monitoring, signal handling and graceful shutdown.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "scaler/app/app.h"
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

Result<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(const config::AppConfig& c,
                                                                 std::unique_ptr<CertificateReloader>* reloader) {
  return MakeServerCredentials(c, reloader);  // TLS/mTLS from checked copies of the files (tls_credentials.h)
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

}  // namespace

int RunServe(const config::AppConfig& config) {
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
  auto log = telemetry::Logger("app");
  log->info("nim-scaler {} starting", kVersion);
  RaiseDescriptorLimit(log);
  std::map<std::string, std::string> env;
  for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  auto kube = sources::ResolveKubeApi(config.kube_api, env);
  if (!kube.ok()) {
    log->error("{}", kube.status().message());
    return 2;
  }
  if (kube->has_value()) {
    log->info("Kubernetes discovery via {}{}", net::RedactUrl((*kube)->base_url),
              (*kube)->token_file.empty() ? "" : " (service-account token)");
  } else {
    log->info("Kubernetes discovery off (--kube-api {}): ScaledObjects may use dnsName{}", config.kube_api,
              config.allow_static_endpoints ? " or endpoints" : "");
  }

  if (Status files = CheckPrometheusClientFiles(config); !files.ok()) {
    log->error("{}", files.message());
    return 2;
  }
  LogPrometheusClient(config, log);

  // dnsName and wakeQuery may not reach this node's own addresses either (issue 19 item 4).
  net::SetNodeAddresses(config.node_ips);
  SystemClock clock;
  telemetry::ScalerMetrics metrics;
  auto http =
      std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient({.max_idle_connections = config.max_idle_connections}));
  sources::DiscoveryRegistry discovery(*kube, http);
  engine::EngineDeps deps{http, &discovery, &clock, &metrics, config.stream_heartbeat};
  trigger::SpecOptions spec_options{config.allow_static_endpoints,
                                    config.min_scrape_interval,
                                    kube->has_value(),
                                    config.namespaces,
                                    config.prometheus_url,
                                    config.prometheus_allowed,
                                    config.prometheus_bearer_token_file,
                                    config.prometheus_ca_file,
                                    config.prometheus_headers};
  engine::ScalerEngine engine(spec_options, deps, config.idle_forget);

  // Declared before the server and the peer client: both read its checked copies of the files.
  std::unique_ptr<CertificateReloader> tls_reloader;  // declared before the server: outlives it
  auto creds = MakeCredentials(config, &tls_reloader);
  if (!creds.ok()) {
    log->error("{}", creds.status().message());
    return 2;
  }
  // One completion queue and one thread serve every call of the gRPC port (async_calls.h), and
  // the calls this replica makes to its peers. Declared before the services, so it stops after
  // they have answered everything.
  service::CallLoop loop;
  // HA (docs/ha.md): the replicas of the peers Service share the triggers out.
  std::unique_ptr<cluster::Membership> membership;
  std::unique_ptr<cluster::Router> router;
  std::unique_ptr<service::PeerClient> peers;
  if (!config.peers_service.empty()) {
    if (!kube->has_value()) {
      log->error("--peers-service needs Kubernetes discovery (--kube-api is off)");
      return 2;
    }
    std::string ns = PeersNamespace(config);
    if (ns.empty()) {
      log->error("--peers-service: cannot tell this pod's namespace; set --peers-namespace");
      return 2;
    }
    int own_port = std::stoi(config.advertise_addr.substr(config.advertise_addr.rfind(':') + 1));
    membership = std::make_unique<cluster::Membership>(
        config.advertise_addr, discovery.WatchFor(ns, config.peers_service), config.peers_port_name, own_port, &clock);
    router = std::make_unique<cluster::Router>(membership.get(), &clock);
    // With TLS, peers are checked against PeerCaFile() and this replica presents its own
    // certificate, from the reloader's copies (tls_credentials.h), like KEDA reaches them.
    peers = std::make_unique<service::PeerClient>(MakePeerChannelCredentials(tls_reloader.get()),
                                                  config.peer_tls_server_name, &loop);
    log->info("HA: replicas are the ready endpoints of Service {}/{}; this one is {}", ns, config.peers_service,
              config.advertise_addr);
  }
  service::ExternalScalerService::Options service_options;
  service_options.router = router.get();
  service_options.peers = peers.get();
  service_options.max_stream_age = std::chrono::duration_cast<std::chrono::milliseconds>(config.max_connection_age);
  service::ExternalScalerService service(&engine, &metrics, &clock, service_options);
  service::HealthService health;

  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(GrpcListenAddress(config.grpc_addr), *creds, &grpc_port);
  // The port is ours alone: with gRPC's default SO_REUSEPORT a second server on the same port
  // starts and silently takes half of KEDA's connections (issue 14 item 5).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service);
  builder.RegisterService(&health);
  loop.Attach(&builder);
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
  if (!server || grpc_port == 0) {
    log->error("cannot listen on --grpc-addr {} (in use or invalid)", config.grpc_addr);
    return 2;
  }
  // "", "readiness" and the service's own name: NOT_SERVING until the first health pass
  // below, and when collection stalls. "liveness": SERVING until shutdown, so a stall (often
  // the network's fault) makes the replica unready rather than restarting it.
  constexpr const char* kReadinessNames[] = {"", "readiness", "externalscaler.ExternalScaler"};
  for (const char* name : kReadinessNames) health.Set(name, false);
  health.Set("liveness", true);
  service.Start(&loop);
  health.Start(&loop);
  loop.Start();

  std::atomic<bool> shutting_down{false};
  auto ready = [&](std::string* why) {
    if (shutting_down.load()) {
      *why = "shutting down";
      return false;
    }
    // With HA, a replica that has not read its peers yet would answer as if it were alone.
    if (membership && !membership->Known()) {
      *why = "HA: the peers Service " + config.peers_service + " has not been listed yet";
      return false;
    }
    return engine.CollectionHealthy(clock.Now(), why);
  };
  http::AdminServer admin(&engine, &metrics, &clock, ready, config.wake_token_file);
  if (kube->has_value()) {
    // A wake for a ScaledObject or a Service that exists nowhere gets 404 (issue 12 item 4,
    // issue 18 item 2).
    admin.SetScaledObjectLookup([&http, api = **kube](const std::string& ns, const std::string& name) {
      return sources::ScaledObjectExists(*http, api, ns, name, std::chrono::seconds(2));
    });
    admin.SetServiceLookup([&http, api = **kube](const std::string& ns, const std::string& name) {
      return sources::ServiceExists(*http, api, ns, name, std::chrono::seconds(2));
    });
  }
  if (router) {
    admin.SetWakeBroadcast(
        [&service](const std::string& ns, const std::string& name) { return service.BroadcastWake(ns, name); });
    admin.SetOwnership([&router](const engine::TrackedObject& o) {
      const auto& k = o.spec().key;
      cluster::Owners owners = router->OwnersOf(cluster::TriggerKey(k.ns, k.name, k.metadata_hash));
      return http::Ownership{owners.owner, owners.successor, owners.Includes(router->self())};
    });
  }
  if (Status s = admin.Start(config.http_addr); !s.ok()) {
    log->error("--http-addr: {}", s.message());
    server->Shutdown();
    return 2;
  }

  // Health monitor: ties gRPC health to how fresh collection is, and forgets idle objects.
  std::mutex monitor_mu;
  std::condition_variable monitor_cv;
  bool monitor_stop = false;
  std::thread monitor([&] {
    bool serving = false;
    TimePoint next_sweep{};
    FreeMemoryReleaser releaser;  // hands back what forgotten triggers freed
    TimePoint next_release_check{};
    int forced_releases = 0;  // after triggers are forgotten: at the next two checks, whatever the free bytes say
    while (true) {
      std::string why;
      bool ok = ready(&why);
      if (ok != serving) {
        for (const char* name : kReadinessNames) health.Set(name, ok);
        if (ok)
          log->info("health: SERVING");
        else
          log->warn("health: NOT_SERVING: {}", why);
        serving = ok;
      }
      size_t forgotten = engine.ForgetIdle(clock.Now());
      if (router && clock.Now() >= next_sweep) {
        // Triggers this replica neither owns nor succeeds (after a membership change, or answered
        // here while their owners were unreachable) stop being collected here after --peer-forget-after unused.
        // Every 2 s, not on every 250 ms pass: the rule is about 30 s, and the predicate runs
        // under the engine's lock, which every gRPC call's lookup also takes.
        TimePoint now = clock.Now();
        next_sweep = now + std::chrono::seconds(2);
        // One copy of the peer list per sweep. Self among the top two of all peers is among the
        // top two of every subset that keeps self (the router's live peers drop only others),
        // so such a trigger is kept without asking the router (its locks, its list copies);
        // only the others get the router's exact answer.
        const std::vector<std::string> peers_now = router->Peers();
        const std::string& self = router->self();
        forgotten += engine.ForgetIf(
            [&](const engine::TrackedObject& o) {
              if (o.HasSubscribers() || now - o.LastAccess() <= config.peer_forget) return false;
              const auto& k = o.spec().key;
              std::string key = cluster::TriggerKey(k.ns, k.name, k.metadata_hash);
              if (cluster::OwnersOf(key, peers_now).Includes(self)) return false;
              return !router->Keeps(key);
            },
            "no longer collected here: this replica is neither its owner nor its successor");
      }
      // Every 5 s: the RSS falls back after triggers leave (issue 16, "back near baseline after
      // they are forgotten"); twice after a forget, for what their last holders free late.
      if (forgotten > 0) forced_releases = 2;
      if (clock.Now() >= next_release_check) {
        next_release_check = clock.Now() + std::chrono::seconds(5);
        if (releaser.Poll(forced_releases > 0)) log->debug("returned free heap memory to the OS");
        forced_releases = std::max(0, forced_releases - 1);
      }
      std::unique_lock lock(monitor_mu);
      if (monitor_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return monitor_stop; })) return;
    }
  });

  log->info("serving grpc_port={} http_port={} tls={} static_endpoints={}", grpc_port, admin.port(),
            config.tls_cert.empty() ? "off" : (config.tls_client_ca.empty() ? "on" : "mutual"),
            config.allow_static_endpoints ? "allowed" : "refused");

  int sig = WaitForShutdownSignal(log);
  log->info("received {}; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  shutting_down.store(true);
  health.Shutdown();
  service.FinishAllStreams();
  // Let calls being answered finish (up to the grace), then stop at once: gRPC's own
  // Shutdown(deadline) would wait out the whole grace while KEDA keeps an idle connection open.
  auto grace_end = std::chrono::steady_clock::now() + config.shutdown_grace;
  if (!service.WaitIdle(grace_end)) {
    log->warn("calls still running after --shutdown-grace {}; cancelling them", FormatDuration(config.shutdown_grace));
  }
  // Streams ended above normally finish within milliseconds; one whose client stopped reading
  // has a write blocked by flow control that never completes. Cancel those and drain their
  // operations while the completion queue still runs (issue 19 item 3b).
  auto now = std::chrono::steady_clock::now();
  size_t cancelled = loop.CancelStreams(std::min(grace_end, now + std::chrono::milliseconds(500)),
                                        std::max(grace_end, now + std::chrono::seconds(2)));
  if (cancelled > 0) log->info("cancelled {} stream(s) whose client was not reading", cancelled);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  service.Stop();
  if (peers) peers->CancelAll();  // warm and wake calls still in flight: the loop drains at once
  loop.Stop();                    // no gRPC operation starts after this (CallLoop's gate)
  {
    std::lock_guard lock(monitor_mu);
    monitor_stop = true;
  }
  monitor_cv.notify_all();
  monitor.join();
  discovery.StopAll();  // every watch signalled at once, then joined together
  engine.StopAll();
  admin.Stop();
  log->info("stopped");
  return 0;
}

}  // namespace nimscaler::app
