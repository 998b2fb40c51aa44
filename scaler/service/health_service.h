#pragma once
// HealthService: grpc.health.v1.Health (Check and Watch) on the port's CallLoop, so that no
// thread but the loop's polls the gRPC port (libgrpc++'s default health service brings its own
// completion queue and thread). Statuses are set by name; Watch streams follow them.

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "health.grpc.pb.h"
#include "scaler/service/async_calls.h"

namespace nimscaler::service {

class HealthWatch;

/// Thread-safe. Outlives the grpc::Server it is registered with.
class HealthService final : public grpc::health::v1::Health::AsyncService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  /// Opens the slots the calls arrive in, on `loop`'s queue.
  void Start(CallLoop* loop);

  /// Sets (or adds) a service name's status; every Watch of that name receives it.
  void Set(const std::string& service, bool serving);
  /// Shutting down: every name NOT_SERVING, then every Watch ends with status OK.
  void Shutdown();

 private:
  friend class HealthWatch;
  template <class, class, class>
  friend class UnaryCall;
  using CheckCall =
      UnaryCall<HealthService, grpc::health::v1::HealthCheckRequest, grpc::health::v1::HealthCheckResponse>;

  void HandleCheck(CheckCall* call);
  void OpenWatch();
  /// Registers `w` and sends its first status (SERVICE_UNKNOWN for an unknown name).
  void AddWatch(HealthWatch* w);
  void RemoveWatch(HealthWatch* w);

  CallLoop* loop_ = nullptr;
  std::mutex mu_;  // guards statuses_, watches_, shut_down_
  std::map<std::string, ServingStatus> statuses_;
  std::set<HealthWatch*> watches_;
  bool shut_down_ = false;
};

}  // namespace nimscaler::service
