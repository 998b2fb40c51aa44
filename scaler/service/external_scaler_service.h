#pragma once
// ExternalScalerService: the KEDA externalscaler.ExternalScaler service. Thin: proto -> engine
// -> proto. Every method runs on the async API of the port's one CallLoop (async_calls.h).
// Unary answers come from memory; StreamIsActive is a PushStream subscribed to the engine's
// inactive->active edges; StreamMetricSpec answers UNIMPLEMENTED (docs/operations.md "What KEDA gets, and when").
// The loop thread only looks triggers up (ScalerEngine::Lookup); a trigger not cached yet is
// built by SpecBuilders and its call answered from there. Names are checked and error text
// capped on the way in and out (request_limits.h).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "externalscaler.grpc.pb.h"
#include "scaler/cluster/router.h"
#include "scaler/engine/scaler_engine.h"
#include "scaler/service/async_calls.h"
#include "scaler/service/peer_client.h"
#include "scaler/service/request_limits.h"
#include "scaler/service/spec_builders.h"
#include "scaler/telemetry/scaler_metrics.h"

namespace nimscaler::service {

class ActiveStream;

/// kForwardedHeader value (peer_client.h) of a call a cold owner sends on to its successor,
/// "successor;<ms>" with how long the sender has collected the trigger. Never forwarded again:
/// the receiver answers it when it has collected the trigger for longer (by more than two
/// scrape intervals), and otherwise answers ABORTED with kColderThanOwner, on which the sender
/// answers itself.
inline constexpr char kForwardedSuccessor[] = "successor";
inline constexpr char kColderThanOwner[] =
    "nim-scaler: this replica has collected the trigger for less time than its owner";
/// kForwardedHeader value of an IsActive that carries a wake by Service (issue 18 item 2): the
/// ref's namespace and name are the Service's, its metadata empty. The receiver wakes the
/// triggers it tracks that read the Service and keeps the wake for the rest, like a
/// kForwardedWake (peer_client.h) for a ScaledObject; it never sends it on.
inline constexpr char kForwardedServiceWake[] = "wake-service";

/// Thread-safe. Outlives the grpc::Server it is registered with. Life cycle:
/// builder.RegisterService -> BuildAndStart -> Start(&loop) -> loop.Start() -> ... -> FinishAllStreams(),
/// WaitIdle() -> loop.CancelStreams() -> server->Shutdown() -> Stop() -> loop.Stop().
class ExternalScalerService final : public externalscaler::ExternalScaler::AsyncService {
 public:
  struct Options {
    size_t max_active_streams = kMaxActiveStreams;  ///< StreamIsActive streams open at once
    size_t builder_threads = 2;                     ///< SpecBuilders threads
    size_t max_queued_builds = 64;                  ///< distinct new triggers waiting to be built
    /// Builds a trigger not cached yet; default ScalerEngine::Resolve (tests slow it down).
    SpecBuilders::BuildFn build;
    /// HA (docs/ha.md): with both set, calls for triggers another replica owns are forwarded
    /// to it, and StreamIsActive is relayed from it. Both outlive the service.
    cluster::Router* router = nullptr;
    PeerClient* peers = nullptr;
    /// How long a forwarded call may take before the next replica in line answers.
    std::chrono::milliseconds forward_deadline{500};
    /// With a maximum connection age on the port: each StreamIsActive ends cleanly (OK) after
    /// this long, so no stream outlives its connection's grace (KEDA's backoff then stays 2 s).
    std::chrono::milliseconds max_stream_age{0};
  };

  ExternalScalerService(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock,
                        Options options);
  ExternalScalerService(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock)
      : ExternalScalerService(engine, metrics, clock, Options{}) {}
  ~ExternalScalerService() override;

  /// Opens the slots the calls of every method arrive in, on `loop`'s queue.
  void Start(CallLoop* loop);

  /// Ends every open stream with status OK (KEDA then reconnects after 2 s instead of
  /// backing off) and refuses new ones. Call before grpc::Server::Shutdown().
  void FinishAllStreams();

  /// Waits until no unary call is being answered, or `deadline`. True when idle.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);

  /// After grpc::Server::Shutdown(), before the CallLoop stops: answers at once every call
  /// still waiting for a first collection or a build.
  void Stop();

  /// Metadata maps with more entries than this are never looked up on the loop thread (no
  /// valid trigger has that many keys; copying and comparing a huge map is left to a builder).
  static constexpr int kMaxInlineMetadataKeys = 64;

  /// How long a first call waits for a new trigger's first collection before UNAVAILABLE.
  static constexpr std::chrono::milliseconds kFirstAnswerWait{800};

 private:
  friend class ActiveStream;
  template <class, class, class>
  friend class UnaryCall;
  using SpecCall =
      UnaryCall<ExternalScalerService, externalscaler::ScaledObjectRef, externalscaler::GetMetricSpecResponse>;
  using MetricsCall =
      UnaryCall<ExternalScalerService, externalscaler::GetMetricsRequest, externalscaler::GetMetricsResponse>;
  using ActiveCall =
      UnaryCall<ExternalScalerService, externalscaler::ScaledObjectRef, externalscaler::IsActiveResponse>;

  /// Issues one peer call: (peer, mark, deadline, done).
  template <class Response>
  using ForwardFn =
      std::function<void(const std::string&, const char*, std::chrono::milliseconds, PeerClient::Done<Response>)>;
  /// Forwards `call` to the replicas the router names for its trigger, in order, when this
  /// replica should not answer it itself; true when the call was taken (answered by a peer, or
  /// answered here after every peer failed). With `needs_warm` (GetMetrics, IsActive), an
  /// owner whose windows are still cold forwards to the successor (docs/ha.md).
  template <class Call, class Response>
  bool Forwarded(Call* call, const externalscaler::ScaledObjectRef& ref, const char* method, TimePoint start,
                 bool needs_warm, ForwardFn<Response> forward, std::function<void()> answer_here);
  /// A PeerClient call: (peer, request, deadline, mark, done).
  template <class Request, class Response>
  using PeerSend = void (PeerClient::*)(const std::string&, const Request&, std::chrono::milliseconds, const char*,
                                        PeerClient::Done<Response>);
  /// The first step of the unary calls: Forwarded() with `send`, or `answer` here.
  template <class Call, class Response, class Request>
  void RouteOrAnswer(Call* call, const externalscaler::ScaledObjectRef& ref, const char* method, TimePoint start,
                     bool needs_warm, PeerSend<Request, Response> send,
                     void (ExternalScalerService::*answer)(Call*, TimePoint));
  template <class Call, class Response>
  void TryPeers(Call* call, std::shared_ptr<std::vector<std::string>> peers, size_t i, const char* method,
                TimePoint start, std::string mark, std::chrono::milliseconds deadline, ForwardFn<Response> forward,
                std::function<void()> answer_here);
  /// For a call this replica would answer itself: the replica to ask first when its windows
  /// for `ref` are not warm yet (just started, or just became the owner): the successor when
  /// this replica is the owner by the peer list, the owner otherwise; "" when this replica
  /// answers. An untracked trigger starts being collected here (on a builder thread) and counts
  /// as cold. `age`: how long this replica has collected it (zero before a first cycle).
  std::string ColdOwnerSuccessor(const externalscaler::ScaledObjectRef& ref, const std::string& key, Duration* age);
  /// For a kForwardedSuccessor call: true when this replica has not collected the trigger for
  /// more than two intervals longer than the sender says it has (the sender then answers).
  bool ColderThanOwner(const externalscaler::ScaledObjectRef& ref, const std::string& mark);
  /// True when `obj` has been collected here for its window plus two intervals.
  bool Warm(const std::shared_ptr<engine::TrackedObject>& obj);
  /// How long a forwarded call may take: the forward deadline, or less when the caller's own
  /// deadline leaves less (a second hop must answer before the first gives up on it).
  std::chrono::milliseconds HopDeadline(const grpc::ServerContext& ctx) const;
  /// Every 500 ms (HA only): when the peer list changed, moves each StreamIsActive stream
  /// whose trigger's first replica in line changed to it (docs/ha.md).
  void RerouteStreams();
  /// After a local answer: keep the successor's windows warm (a "warm" IsActive, at most once
  /// a minute per trigger and at once when the successor changes).
  /// `key`: TriggerKeyOf(ref), computed once per call by the caller ("" does nothing).
  void WarmSuccessor(const externalscaler::ScaledObjectRef& ref, const std::string& key);
  /// The ownership key of `ref` (namespace, name, metadata hash), or "" for names that are
  /// refused or a map too large to hash on the loop thread.
  static std::string TriggerKeyOf(const externalscaler::ScaledObjectRef& ref);
  /// The ownership key of `ref`, or "" when this call is answered here without routing.
  std::string RouteKey(grpc::ServerContext& ctx, const externalscaler::ScaledObjectRef& ref) const;

 public:
  /// Sends a wake for namespace/name to every other replica (they wake what they track and
  /// remember it for triggers they do not track yet). Returns how many peers it was sent to.
  /// A name engine::kServiceWakePrefix + "<service>" is a wake by Service, sent marked
  /// kForwardedServiceWake.
  size_t BroadcastWake(const std::string& ns, const std::string& name);

 private:
  void HandleGetMetricSpec(SpecCall* call);
  void HandleGetMetrics(MetricsCall* call);
  void HandleIsActive(ActiveCall* call);
  void AnswerGetMetricSpec(SpecCall* call, TimePoint start);
  void AnswerGetMetrics(MetricsCall* call, TimePoint start);
  void AnswerIsActive(ActiveCall* call, TimePoint start);
  /// Another replica's wake hook (a kForwardedWake IsActive, or with `by_service` a
  /// kForwardedServiceWake one: issue 18 item 2): wakes what is tracked here, remembers the
  /// wake for five minutes for the rest, and answers; never sent on.
  void AnswerPeerWake(ActiveCall* call, TimePoint start, bool by_service);
  using Resolved = SpecBuilders::Answer;
  /// Checks the ref's names, then calls `next` with its tracked object: at once on this thread
  /// when cached, otherwise on a builder thread once built.
  void ResolveThen(const externalscaler::ScaledObjectRef& ref, std::function<void(const Resolved&)> next);
  template <class Call>
  void Answer(Call* call, const char* method, TimePoint start, const grpc::Status& status);
  template <class Call>
  void AnswerFromMemory(Call* call, const char* method, TimePoint start,
                        const std::shared_ptr<engine::TrackedObject>& obj,
                        std::function<grpc::Status(const engine::Evaluation&)> answer);
  void OpenStreamIsActive();
  void OpenStreamMetricSpec();
  /// nullopt when `s` is accepted; otherwise the status to end it with.
  std::optional<grpc::Status> AddStream(ActiveStream* s);
  void RemoveStream(ActiveStream* s);

  engine::ScalerEngine* engine_;
  telemetry::ScalerMetrics* metrics_;
  const Clock* clock_;
  const Options options_;
  CallLoop* loop_ = nullptr;
  std::mutex mu_;  // guards streams_, shutting_down_
  std::set<ActiveStream*> streams_;
  bool shutting_down_ = false;

  std::atomic<int> inflight_{0};  // unary calls not answered yet
  class DelayedCalls;
  std::unique_ptr<DelayedCalls> timers_;
  std::unique_ptr<SpecBuilders> builders_;
  /// HA: since when each tracked object has been seen collected here (for Warm()).
  class WarmUp;
  std::unique_ptr<WarmUp> warm_up_;
  std::atomic<bool> stopping_{false};      // Stop() began: RerouteStreams no longer re-arms
  std::vector<std::string> rerouted_for_;  // the peer list streams were last placed for (timer thread)
};

/// Maps a domain Status to the gRPC status KEDA sees (the only place this happens). The
/// message is capped (CapErrorText).
grpc::Status ToGrpcStatus(const Status& status);

}  // namespace nimscaler::service
