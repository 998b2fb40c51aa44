// Exports RunServe(): wiring, health monitoring, signal handling and graceful shutdown.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <sstream>
#include <thread>

#include "scaler/app/app.h"
#include "scaler/app/tls_credentials.h"
#include "scaler/common/text.h"
#include "scaler/common/version.h"
#include "scaler/engine/scaler_engine.h"
#include "scaler/http/admin_server.h"
#include "scaler/net/http_client.h"
#include "scaler/service/async_calls.h"
#include "scaler/service/external_scaler_service.h"
#include "scaler/service/health_service.h"
#include "scaler/sources/discovery/discovery_registry.h"
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

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace

int RunServe(const config::AppConfig& config) {
  // Block the shutdown signals in every thread we start; only WaitForSignal() takes them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  telemetry::SetupLogging(config.log_format, config.log_level);
  auto log = telemetry::Logger("app");
  log->info("nim-scaler {} starting", kVersion);
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
    log->info("Kubernetes discovery via {}{}", (*kube)->base_url,
              (*kube)->token_file.empty() ? "" : " (service-account token)");
  } else {
    log->info("Kubernetes discovery off (--kube-api {}): ScaledObjects may use dnsName{}", config.kube_api,
              config.allow_static_endpoints ? " or endpoints" : "");
  }

  SystemClock clock;
  telemetry::ScalerMetrics metrics;
  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  sources::DiscoveryRegistry discovery(*kube, http);
  engine::EngineDeps deps{http, &discovery, &clock, &metrics, config.stream_heartbeat};
  spec::SpecOptions spec_options{config.allow_static_endpoints, config.min_scrape_interval, kube->has_value(),
                                 config.namespaces};
  engine::ScalerEngine engine(spec_options, deps, config.idle_forget);
  // One completion queue and one thread serve every call of the gRPC port (async_calls.h).
  // Declared before the services, so it stops after they have answered everything.
  service::CallLoop loop;
  service::ExternalScalerService service(&engine, &metrics, &clock);
  service::HealthService health;

  std::unique_ptr<CertificateReloader> tls_reloader;  // declared before the server: outlives it
  auto creds = MakeCredentials(config, &tls_reloader);
  if (!creds.ok()) {
    log->error("{}", creds.status().message());
    return 2;
  }
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(GrpcListenAddress(config.grpc_addr), *creds, &grpc_port);
  builder.RegisterService(&service);
  builder.RegisterService(&health);
  loop.Attach(&builder);
  // KEDA configures no keepalive; our pings notice dead operator connections.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
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
  service.Start(loop.cq());
  health.Start(loop.cq());
  loop.Start();

  std::atomic<bool> shutting_down{false};
  auto ready = [&](std::string* why) {
    if (shutting_down.load()) {
      *why = "shutting down";
      return false;
    }
    return engine.CollectionHealthy(clock.Now(), why);
  };
  http::AdminServer admin(&engine, &metrics, &clock, ready, config.wake_token_file);
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
    while (true) {
      std::string why;
      bool ok = ready(&why);
      if (ok != serving) {
        for (const char* name : kReadinessNames) health.Set(name, ok);
        if (ok) log->info("health: SERVING");
        else log->warn("health: NOT_SERVING: {}", why);
        serving = ok;
      }
      engine.ForgetIdle(clock.Now());
      std::unique_lock lock(monitor_mu);
      if (monitor_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return monitor_stop; })) return;
    }
  });

  log->info("serving grpc_port={} http_port={} tls={} static_endpoints={}", grpc_port, admin.port(),
            config.tls_cert.empty() ? "off" : (config.tls_client_ca.empty() ? "on" : "mutual"),
            config.allow_static_endpoints ? "allowed" : "refused");

  int sig = WaitForSignal();
  log->info("received {}; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  shutting_down.store(true);
  health.Shutdown();
  service.FinishAllStreams();
  // Let calls being answered finish (up to the grace), then stop at once: gRPC's own
  // Shutdown(deadline) would wait out the whole grace while KEDA keeps an idle connection open.
  if (!service.WaitIdle(std::chrono::steady_clock::now() + config.shutdown_grace)) {
    log->warn("calls still running after --shutdown-grace {}; cancelling them", FormatDuration(config.shutdown_grace));
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  service.Stop();
  loop.Stop();
  {
    std::lock_guard lock(monitor_mu);
    monitor_stop = true;
  }
  monitor_cv.notify_all();
  monitor.join();
  engine.StopAll();
  admin.Stop();
  log->info("stopped");
  return 0;
}

}  // namespace nimscaler::app
