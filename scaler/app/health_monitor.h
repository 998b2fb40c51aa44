#pragma once
// HealthMonitor: the serve process's housekeeping thread. Every 250 ms it ties gRPC health to
// whether the replica is ready, forgets idle triggers (and, with HA, those no longer collected
// here), and hands the heap they freed back to the OS.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "scaler/cluster/router.h"
#include "scaler/common/clock.h"
#include "scaler/engine/scaler_engine.h"
#include "scaler/service/health_service.h"

namespace nimscaler::app {

class HealthMonitor {
 public:
  struct Deps {
    engine::ScalerEngine* engine = nullptr;
    service::HealthService* health = nullptr;
    cluster::Router* router = nullptr;  ///< null without HA
    const Clock* clock = nullptr;
    /// Whether the replica may serve; when not, sets the reason.
    std::function<bool(std::string* why)> ready;
    /// With HA: how long a trigger this replica neither owns nor succeeds stays collected unused.
    Duration peer_forget{};
  };

  explicit HealthMonitor(Deps deps) : deps_(std::move(deps)) {}
  ~HealthMonitor() { Stop(); }
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  void Start();
  void Stop();  ///< idempotent; joins the thread

  /// Sets every readiness name ("", "readiness" and the KEDA service's). "liveness" is set apart:
  /// a stall (often the network's fault) makes the replica unready rather than restarting it.
  static void SetReadiness(service::HealthService* health, bool serving);

 private:
  void Run();
  // Triggers this replica neither owns nor succeeds, unused for peer_forget. Returns how many.
  size_t ForgetNotCollectedHere(TimePoint now);

  Deps deps_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace nimscaler::app
