#pragma once
// PeerClient: calls from one replica to another (docs/ha.md). A replica that does not own a
// trigger forwards KEDA's unary calls to the owner and relays StreamIsActive from it. Every
// call carries kForwardedHeader, so a forwarded call is answered where it lands and never
// forwarded again. Channels are cached per peer and use the port's own credentials.
//
// Unary calls run on the gRPC port's own completion queue (CallLoop, async_calls.h): the loop
// thread that received KEDA's call sends it on, reads the peer's answer and writes it back, so
// a forwarded call wakes no other thread (gRPC 1.51's callback client hands every completion
// to a pool of "nexting" threads that take turns polling the same sockets as the loop: one
// more thread to schedule per call, which on a busy node is most of a forwarded call's tail).
// Relayed streams use the callback client: they live for minutes and are not on this path.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "externalscaler.grpc.pb.h"
#include "scaler/service/async_calls.h"

namespace nimscaler::service {

/// Request metadata marking a call from a peer. Values: kForwardedCall (answer it here) and
/// kForwardedWarm (the owner asks its successor to keep the trigger's windows warm).
inline constexpr char kForwardedHeader[] = "x-nim-scaler-forwarded";
inline constexpr char kForwardedCall[] = "call";
inline constexpr char kForwardedWarm[] = "warm";
/// kForwardedWake: an IsActive that carries a wake (the wake hook called on another replica).
inline constexpr char kForwardedWake[] = "wake";
/// Trailing metadata on every answer of the service: tells a forwarding replica that the peer
/// answered (its status is the trigger's, to pass on), as opposed to a transport failure.
inline constexpr char kAnsweredTrailer[] = "x-nim-scaler-answered";

/// Thread-safe. Callbacks must not block: a unary call's runs on the loop thread (or at once,
/// on the caller's thread, when the call cannot start); a relay's on gRPC's client threads.
class PeerClient {
 public:
  /// `credentials`: how to reach a peer's gRPC port; `authority`: the TLS server name to check
  /// (empty: the peer's address); `loop`: whose completion queue the unary calls use (it must
  /// outlive this client's calls: call CancelAll() before stopping it).
  PeerClient(std::shared_ptr<grpc::ChannelCredentials> credentials, std::string authority, CallLoop* loop);
  ~PeerClient();

  /// Shutting down: every unary call in flight is cancelled (its callback sees a failure, not
  /// an answer) and every later one fails at once, so the loop's queue drains without waiting
  /// out a deadline.
  void CancelAll();

  /// `answered`: the peer's service answered (status and response are its answer); false for
  /// a transport failure or deadline (try another replica).
  template <class Response>
  using Done = std::function<void(const grpc::Status&, const Response&, bool answered)>;

  void GetMetrics(const std::string& peer, const externalscaler::GetMetricsRequest& request,
                  std::chrono::milliseconds deadline, const char* mark, Done<externalscaler::GetMetricsResponse> done);
  void IsActive(const std::string& peer, const externalscaler::ScaledObjectRef& request,
                std::chrono::milliseconds deadline, const char* mark, Done<externalscaler::IsActiveResponse> done);
  void GetMetricSpec(const std::string& peer, const externalscaler::ScaledObjectRef& request,
                     std::chrono::milliseconds deadline, const char* mark,
                     Done<externalscaler::GetMetricSpecResponse> done);

  /// A StreamIsActive call to a peer whose messages are relayed. Cancel() ends it; `ended`
  /// runs exactly once, when the call is over (cancelled, peer gone, or the peer ended it).
  class Relay {
   public:
    virtual ~Relay() = default;
    virtual void Cancel() = 0;
  };
  std::shared_ptr<Relay> StreamIsActive(const std::string& peer, const externalscaler::ScaledObjectRef& request,
                                        std::function<void()> on_true, std::function<void(const grpc::Status&)> ended);

 private:
  class UnaryBase;
  template <class Response>
  class Unary;
  friend class UnaryBase;

  externalscaler::ExternalScaler::Stub* StubFor(const std::string& peer);
  /// Registers a call about to start; false once CancelAll() ran.
  bool Begin(UnaryBase* call);
  void End(UnaryBase* call);

  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const std::string authority_;
  CallLoop* const loop_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<externalscaler::ExternalScaler::Stub>> stubs_;
  std::set<UnaryBase*> inflight_;  // guarded by mu_
  bool cancelled_ = false;         // guarded by mu_
};

}  // namespace nimscaler::service
