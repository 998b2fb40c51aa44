#pragma once
// ExternalScalerService: the KEDA externalscaler.ExternalScaler service. Thin: proto -> engine
// -> proto. Every method runs on the async API of the port's one CallLoop (async_calls.h).
// Unary answers come from memory; StreamIsActive is a PushStream subscribed to the engine's
// inactive->active edges; StreamMetricSpec answers UNIMPLEMENTED (keda-contract.md §5).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "externalscaler.grpc.pb.h"
#include "scaler/engine/scaler_engine.h"
#include "scaler/service/async_calls.h"
#include "scaler/telemetry/scaler_metrics.h"

namespace nimscaler::service {

class ActiveStream;

/// Thread-safe. Outlives the grpc::Server it is registered with. Life cycle:
/// builder.RegisterService -> BuildAndStart -> Start(loop.cq()) -> loop.Start() -> ... -> FinishAllStreams(),
/// WaitIdle() -> server->Shutdown() -> Stop() -> loop.Stop().
class ExternalScalerService final : public externalscaler::ExternalScaler::AsyncService {
 public:
  ExternalScalerService(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock);
  ~ExternalScalerService() override;

  /// Opens the slots the calls of every method arrive in, on `cq`.
  void Start(grpc::ServerCompletionQueue* cq);

  /// Ends every open stream with status OK (KEDA then reconnects after 2 s instead of
  /// backing off) and refuses new ones. Call before grpc::Server::Shutdown().
  void FinishAllStreams();

  /// Waits until no unary call is being answered, or `deadline`. True when idle.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);

  /// After grpc::Server::Shutdown(), before the CallLoop stops: answers at once every call
  /// still waiting for a first collection.
  void Stop();

  /// How long a first call waits for a new trigger's first collection before UNAVAILABLE.
  static constexpr std::chrono::milliseconds kFirstAnswerWait{800};

 private:
  friend class ActiveStream;
  template <class, class, class>
  friend class UnaryCall;
  using SpecCall = UnaryCall<ExternalScalerService, externalscaler::ScaledObjectRef,
                             externalscaler::GetMetricSpecResponse>;
  using MetricsCall = UnaryCall<ExternalScalerService, externalscaler::GetMetricsRequest,
                                externalscaler::GetMetricsResponse>;
  using ActiveCall = UnaryCall<ExternalScalerService, externalscaler::ScaledObjectRef,
                               externalscaler::IsActiveResponse>;

  void HandleGetMetricSpec(SpecCall* call);
  void HandleGetMetrics(MetricsCall* call);
  void HandleIsActive(ActiveCall* call);
  template <class Call>
  void Answer(Call* call, const char* method, TimePoint start, const grpc::Status& status);
  template <class Call>
  void AnswerFromMemory(Call* call, const char* method, TimePoint start,
                        const std::shared_ptr<engine::TrackedObject>& obj,
                        std::function<grpc::Status(const engine::Evaluation&)> answer);
  void OpenStreamIsActive();
  void OpenStreamMetricSpec();
  bool AddStream(ActiveStream* s);  // false when shutting down
  void RemoveStream(ActiveStream* s);

  engine::ScalerEngine* engine_;
  telemetry::ScalerMetrics* metrics_;
  const Clock* clock_;
  grpc::ServerCompletionQueue* cq_ = nullptr;
  std::mutex mu_;  // guards streams_, shutting_down_
  std::set<ActiveStream*> streams_;
  bool shutting_down_ = false;

  std::atomic<int> inflight_{0};  // unary calls not answered yet
  class DelayedCalls;
  std::unique_ptr<DelayedCalls> timers_;
};

/// Maps a domain Status to the gRPC status KEDA sees (the only place this happens).
grpc::Status ToGrpcStatus(const Status& status);

}  // namespace nimscaler::service
