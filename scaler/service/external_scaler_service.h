#pragma once
// ExternalScalerService: the KEDA externalscaler.ExternalScaler service on gRPC's callback
// API. Thin: proto -> engine -> proto. Every unary answer comes from memory; StreamIsActive
// runs one reactor per stream, woken by the engine on inactive->active edges.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "externalscaler.grpc.pb.h"
#include "scaler/engine/scaler_engine.h"
#include "scaler/telemetry/scaler_metrics.h"

namespace nimscaler::service {

class ActiveStream;

/// Thread-safe. Outlives the grpc::Server it is registered with.
class ExternalScalerService final : public externalscaler::ExternalScaler::CallbackService {
 public:
  ExternalScalerService(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock);
  ~ExternalScalerService() override;

  grpc::ServerUnaryReactor* IsActive(grpc::CallbackServerContext* ctx, const externalscaler::ScaledObjectRef* req,
                                     externalscaler::IsActiveResponse* resp) override;
  grpc::ServerUnaryReactor* GetMetricSpec(grpc::CallbackServerContext* ctx,
                                          const externalscaler::ScaledObjectRef* req,
                                          externalscaler::GetMetricSpecResponse* resp) override;
  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* ctx, const externalscaler::GetMetricsRequest* req,
                                       externalscaler::GetMetricsResponse* resp) override;
  grpc::ServerWriteReactor<externalscaler::IsActiveResponse>* StreamIsActive(
      grpc::CallbackServerContext* ctx, const externalscaler::ScaledObjectRef* req) override;

  /// Ends every open stream with status OK (KEDA then reconnects after 2 s instead of
  /// backing off) and refuses new ones. Call before grpc::Server::Shutdown().
  void FinishAllStreams();

  /// Waits until no unary call is being answered, or `deadline`. True when idle.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);

  /// How long a first call waits for a new trigger's first collection before UNAVAILABLE.
  static constexpr std::chrono::milliseconds kFirstAnswerWait{800};

 private:
  friend class ActiveStream;
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const char* method, TimePoint start,
                                   const grpc::Status& status);
  void RemoveStream(ActiveStream* s);
  grpc::ServerUnaryReactor* AnswerFromMemory(grpc::CallbackServerContext* ctx, const char* method, TimePoint start,
                                             const std::shared_ptr<engine::TrackedObject>& obj,
                                             std::function<grpc::Status(const engine::Evaluation&)> answer);

  engine::ScalerEngine* engine_;
  telemetry::ScalerMetrics* metrics_;
  const Clock* clock_;
  std::mutex mu_;  // guards streams_, shutting_down_
  std::set<ActiveStream*> streams_;
  bool shutting_down_ = false;

  std::atomic<int> inflight_{0};  // unary calls not finished yet
  class DelayedCalls;
  std::unique_ptr<DelayedCalls> timers_;
};

/// Maps a domain Status to the gRPC status KEDA sees (the only place this happens).
grpc::Status ToGrpcStatus(const Status& status);

}  // namespace nimscaler::service
