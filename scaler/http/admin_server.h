#pragma once
// AdminServer: nim-scaler's HTTP port: /metrics (own telemetry), /healthz (process alive),
// /readyz (collection healthy, not shutting down), /debug/scaledobjects (JSON per tracked
// trigger: pods, signals, value, activity, last error), and the wake hook (POST
// /v1/wake/<namespace>/<scaledobject> and /v1/wake/<namespace>/service/<service>; docs/operations.md
// "Scale to zero and back"). Talks to engine, never to service.

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

/// Sends a wake for namespace/name to the other replicas (HA); returns to how many. `name` is a
/// ScaledObject's name, or engine::kServiceWakePrefix + a Service's name for a wake by Service.
using WakeBroadcastFn = std::function<size_t(const std::string& ns, const std::string& name)>;

/// Whether the ScaledObject namespace/name exists in the cluster (true/false), or an error value
/// when that cannot be told (no permission, API unreachable).
using ScaledObjectLookupFn = std::function<Result<bool>(const std::string& ns, const std::string& name)>;
/// Whether the Service namespace/name exists in the cluster, or an error value when that cannot
/// be told.
using ServiceLookupFn = std::function<Result<bool>(const std::string& ns, const std::string& service)>;

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
  /// With the Kubernetes API: a wake by Service that no trigger here reads is checked against
  /// the API, so a Service that exists nowhere gets 404. Call before Start().
  void SetServiceLookup(ServiceLookupFn fn) { *service_lookup_ = std::move(fn); }
  Status Start(const std::string& addr) { return server_.Start(addr, AdminHttpOptions()); }
  int port() const { return server_.port(); }
  void Stop() { server_.Stop(); }

 private:
  std::shared_ptr<WakeBroadcastFn> broadcast_ = std::make_shared<WakeBroadcastFn>();
  std::shared_ptr<OwnershipFn> ownership_ = std::make_shared<OwnershipFn>();
  std::shared_ptr<ScaledObjectLookupFn> lookup_ = std::make_shared<ScaledObjectLookupFn>();
  std::shared_ptr<ServiceLookupFn> service_lookup_ = std::make_shared<ServiceLookupFn>();
  net::HttpServer server_;
};

/// Handles POST /v1/wake/<namespace>/<scaledobject> (exposed for tests).
/// A wake for a ScaledObject this replica does not track is remembered for kPendingWakeHold and
/// applied when KEDA first asks: 202 Accepted says so. With `lookup`, a ScaledObject that the
/// API says does not exist gets 404 instead (the wake is still kept, in case it is being
/// created); when the lookup fails, 202 says that existence could not be checked.
///
/// POST /v1/wake/<namespace>/service/<service> (issue 18 item 2) wakes every trigger tracked
/// here that reads that Service (engine::ServicesRead), each once: 200 with how many and their
/// ScaledObjects. The wake is always sent to the other replicas and kept for kPendingWakeHold
/// for triggers that read the Service and are not tracked yet. When none here reads it: 202
/// saying so; with `service_lookup`, 404 when the API says the Service does not exist.
/// (/v1/wake/<namespace>/service is still the ScaledObject named "service".)
net::HttpServerResponse HandleWake(engine::ScalerEngine& engine, const Clock& clock, const std::string& token_file,
                                   const net::HttpServerRequest& req, const WakeBroadcastFn& broadcast = nullptr,
                                   const ScaledObjectLookupFn& lookup = nullptr,
                                   const ServiceLookupFn& service_lookup = nullptr);
inline constexpr std::chrono::minutes kPendingWakeHold{5};

/// The /debug/scaledobjects document (exposed for tests).
std::string DebugScaledObjectsJson(const engine::ScalerEngine& engine, TimePoint now,
                                   const OwnershipFn& ownership = nullptr);

}  // namespace nimscaler::http
