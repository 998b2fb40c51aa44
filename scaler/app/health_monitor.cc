// Exports HealthMonitor: readiness, forgetting and heap release for `serve`.
#include "scaler/app/health_monitor.h"

#include <algorithm>

#include "scaler/cluster/rendezvous.h"
#include "scaler/common/allocator.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::app {

void HealthMonitor::SetReadiness(service::HealthService* health, bool serving) {
  for (const char* name : {"", "readiness", "externalscaler.ExternalScaler"}) health->Set(name, serving);
}

void HealthMonitor::Start() {
  thread_ = std::thread([this] { Run(); });
}

void HealthMonitor::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::Run() {
  auto log = telemetry::Logger("app");
  bool serving = false;
  TimePoint next_sweep{};
  FreeMemoryReleaser releaser;  // hands back what forgotten triggers freed
  TimePoint next_release_check{};
  int forced_releases = 0;  // after triggers are forgotten: at the next two checks, whatever the free bytes say
  while (true) {
    std::string why;
    bool ok = deps_.ready(&why);
    if (ok != serving) {
      SetReadiness(deps_.health, ok);
      if (ok) {
        log->info("health: SERVING");
      } else {
        log->warn("health: NOT_SERVING: {}", why);
      }
      serving = ok;
    }
    size_t forgotten = deps_.engine->ForgetIdle(deps_.clock->Now());
    if (deps_.router && deps_.clock->Now() >= next_sweep) {
      // Every 2 s, not on every pass: the rule is about 30 s, and the predicate runs under the
      // engine's lock, which every gRPC call's lookup also takes.
      next_sweep = deps_.clock->Now() + std::chrono::seconds(2);
      forgotten += ForgetNotCollectedHere(deps_.clock->Now());
    }
    // Every 5 s: the RSS falls back after triggers leave (issue 16, "back near baseline after
    // they are forgotten"); twice after a forget, for what their last holders free late.
    if (forgotten > 0) forced_releases = 2;
    if (deps_.clock->Now() >= next_release_check) {
      next_release_check = deps_.clock->Now() + std::chrono::seconds(5);
      if (releaser.Poll(forced_releases > 0)) log->debug("returned free heap memory to the OS");
      forced_releases = std::max(0, forced_releases - 1);
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return stop_; })) return;
  }
}

size_t HealthMonitor::ForgetNotCollectedHere(TimePoint now) {
  // After a membership change, or answered here while their owners were unreachable. One copy of
  // the peer list per sweep. Self among the top two of all peers is among the top two of every
  // subset that keeps self (the router's live peers drop only others), so such a trigger is kept
  // without asking the router (its locks, its list copies); only the others get its exact answer.
  const std::vector<std::string> peers_now = deps_.router->Peers();
  const std::string& self = deps_.router->self();
  return deps_.engine->ForgetIf(
      [&](const engine::TrackedObject& o) {
        if (o.HasSubscribers() || now - o.LastAccess() <= deps_.peer_forget) return false;
        const auto& k = o.spec().key;
        std::string key = cluster::TriggerKey(k.ns, k.name, k.metadata_hash);
        if (cluster::OwnersOf(key, peers_now).Includes(self)) return false;
        return !deps_.router->Keeps(key);
      },
      "no longer collected here: this replica is neither its owner nor its successor");
}

}  // namespace nimscaler::app
