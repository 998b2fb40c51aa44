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

/// Returns true when ready; otherwise fills the reason.
using ReadyFn = std::function<bool(std::string* why)>;

class AdminServer {
 public:
  AdminServer(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock, ReadyFn ready);
  Status Start(const std::string& addr) { return server_.Start(addr); }
  int port() const { return server_.port(); }
  void Stop() { server_.Stop(); }

 private:
  net::HttpServer server_;
};

/// The /debug/scaledobjects document (exposed for tests).
std::string DebugScaledObjectsJson(const engine::ScalerEngine& engine, TimePoint now);

}  // namespace nimscaler::http
