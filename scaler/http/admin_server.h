#pragma once
// AdminServer: nim-scaler's HTTP port: /metrics (own telemetry), /healthz (process alive),
// /readyz (collection healthy, not shutting down), /debug/scaledobjects (JSON per tracked
// trigger: pods, signals, value, activity, last error). Talks to engine, never to service.

#include <functional>
#include <memory>
#include <string>

#include "scaler/engine/scaler_engine.h"
#include "scaler/net/http_server.h"
#include "scaler/telemetry/scaler_metrics.h"

namespace nimscaler::http {

/// The HTTP port's limits: workers, request/body/keep-alive deadlines (see HttpServerOptions).
net::HttpServerOptions AdminHttpOptions();

/// Returns true when ready; otherwise fills the reason.
using ReadyFn = std::function<bool(std::string* why)>;

class AdminServer {
 public:
  /// `wake_token_file`: when not empty, the wake hook requires `Authorization: Bearer <token>`
  /// with the file's content (re-read on every call, so it can rotate).
  AdminServer(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock, ReadyFn ready,
              std::string wake_token_file = "");
  Status Start(const std::string& addr) { return server_.Start(addr, AdminHttpOptions()); }
  int port() const { return server_.port(); }
  void Stop() { server_.Stop(); }

 private:
  net::HttpServer server_;
};

/// Handles POST /v1/wake/<namespace>/<scaledobject> (exposed for tests).
net::HttpServerResponse HandleWake(engine::ScalerEngine& engine, const Clock& clock, const std::string& token_file,
                                   const net::HttpServerRequest& req);

/// The /debug/scaledobjects document (exposed for tests).
std::string DebugScaledObjectsJson(const engine::ScalerEngine& engine, TimePoint now);

}  // namespace nimscaler::http
