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
/// HA: which replicas own a tracked trigger (shown in /debug/scaledobjects).
struct Ownership {
  std::string owner;
  std::string successor;
  bool collects_here = false;  ///< this replica is the owner or the successor
};
using OwnershipFn = std::function<Ownership(const engine::TrackedObject&)>;

/// Sends a wake for namespace/name to the other replicas (HA); returns to how many.
using WakeBroadcastFn = std::function<size_t(const std::string& ns, const std::string& name)>;

/// Whether the ScaledObject namespace/name exists in the cluster (true/false), or an error value
/// when that cannot be told (no permission, API unreachable).
using ScaledObjectLookupFn = std::function<Result<bool>(const std::string& ns, const std::string& name)>;

class AdminServer {
 public:
  /// `wake_token_file`: when not empty, the wake hook and /debug require `Authorization: Bearer <token>`
  /// with the file's content (re-read on every call, so it can rotate).
  AdminServer(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock, ReadyFn ready,
              std::string wake_token_file = "");
  /// HA: wakes are also sent to every other replica. Call before Start().
  void SetWakeBroadcast(WakeBroadcastFn fn) { *broadcast_ = std::move(fn); }
  /// HA: /debug/scaledobjects shows each trigger's owner and successor. Call before Start().
  void SetOwnership(OwnershipFn fn) { *ownership_ = std::move(fn); }
  /// With the Kubernetes API: a wake for a ScaledObject this replica does not track is checked
  /// against the API, so a name that exists nowhere gets 404. Call before Start().
  void SetScaledObjectLookup(ScaledObjectLookupFn fn) { *lookup_ = std::move(fn); }
  Status Start(const std::string& addr) { return server_.Start(addr, AdminHttpOptions()); }
  int port() const { return server_.port(); }
  void Stop() { server_.Stop(); }

 private:
  std::shared_ptr<WakeBroadcastFn> broadcast_ = std::make_shared<WakeBroadcastFn>();
  std::shared_ptr<OwnershipFn> ownership_ = std::make_shared<OwnershipFn>();
  std::shared_ptr<ScaledObjectLookupFn> lookup_ = std::make_shared<ScaledObjectLookupFn>();
  net::HttpServer server_;
};

/// Handles POST /v1/wake/<namespace>/<scaledobject> (exposed for tests).
/// A wake for a ScaledObject this replica does not track is remembered for kPendingWakeHold and
/// applied when KEDA first asks: 202 Accepted says so. With `lookup`, a ScaledObject that the
/// API says does not exist gets 404 instead (the wake is still kept, in case it is being
/// created); when the lookup fails, 202 says that existence could not be checked.
net::HttpServerResponse HandleWake(engine::ScalerEngine& engine, const Clock& clock, const std::string& token_file,
                                   const net::HttpServerRequest& req, const WakeBroadcastFn& broadcast = nullptr,
                                   const ScaledObjectLookupFn& lookup = nullptr);
inline constexpr std::chrono::minutes kPendingWakeHold{5};

/// The /debug/scaledobjects document (exposed for tests).
std::string DebugScaledObjectsJson(const engine::ScalerEngine& engine, TimePoint now,
                                   const OwnershipFn& ownership = nullptr);

}  // namespace nimscaler::http
