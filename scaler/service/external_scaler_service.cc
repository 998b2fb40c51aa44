// Exports ExternalScalerService and ToGrpcStatus().
#include "scaler/service/external_scaler_service.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <thread>
#include <unordered_map>

#include "scaler/service/naming.h"
#include "scaler/service/request_limits.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::service {

using externalscaler::IsActiveResponse;

grpc::Status ToGrpcStatus(const Status& status) {
  std::string text = CapErrorText(status.message());
  switch (status.code()) {
    case Code::kOk: return grpc::Status::OK;
    case Code::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, text};
    case Code::kNotFound: return {grpc::StatusCode::NOT_FOUND, text};
    case Code::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, text};
    case Code::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, text};
    case Code::kDeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, text};
    case Code::kInternal: return {grpc::StatusCode::INTERNAL, text};
  }
  return {grpc::StatusCode::UNKNOWN, text};
}

namespace {

config::Metadata ToMetadata(const externalscaler::ScaledObjectRef& ref) {
  return config::Metadata(ref.scalermetadata().begin(), ref.scalermetadata().end());
}

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "OTHER";
  }
}

// The ScaledObject a call is about (for its log lines' fields).
const externalscaler::ScaledObjectRef& RefOf(const externalscaler::ScaledObjectRef& ref) { return ref; }
const externalscaler::ScaledObjectRef& RefOf(const externalscaler::GetMetricsRequest& req) {
  return req.scaledobjectref();
}

// The namespace and scaledobject fields of a line about `ref` (views into it).
telemetry::LogFields RefFields(const externalscaler::ScaledObjectRef& ref, std::string_view code = {}) {
  return {.ns = ref.namespace_(), .scaledobject = ref.name(), .code = code};
}

// Every error a caller sees is capped; OK passes through.
grpc::Status Capped(const grpc::Status& status) {
  if (status.ok() || status.error_message().size() <= kMaxErrorTextBytes) return status;
  return {status.error_code(), CapErrorText(status.error_message())};
}

}  // namespace

/// One StreamIsActive call: subscribed to its object's inactive->active edges; every message
/// is `true` (docs/operations.md "What KEDA gets, and when": `false` is never sent). With HA, KEDA's stream follows the
/// trigger's first replica in line (Router::Targets): a stream for a trigger another replica
/// owns is relayed (this replica holds KEDA's stream and repeats the owner's messages), one
/// this replica owns is subscribed here. When the owner ends the relayed stream or dies, or the
/// peer list changes so that another replica comes first (RerouteStreams), the stream moves;
/// the new source's first message is `true` if the trigger is active. KEDA's stream stays open.
/// A stream a peer relays (marked) is answered here and never moves: the relaying replica moves it.
class ActiveStream final : public PushStream<externalscaler::ScaledObjectRef, IsActiveResponse> {
 public:
  explicit ActiveStream(ExternalScalerService* service) : service_(service) { active_.set_result(true); }

  /// Where an HA stream's messages come from. Reached by relay callbacks (gRPC client threads),
  /// subscriber callbacks (collector threads) and RerouteStreams (the timer thread), all under
  /// `mu`. Lock order: a TrackedObject's lock, then `mu`, then the stream's own; so nothing
  /// that takes an object's lock (Subscribe, Unsubscribe, Latest) runs with `mu` held.
  struct Route {
    std::mutex mu;
    ActiveStream* stream = nullptr;  // null once closed: no callback reaches it after that
    uint64_t gen = 0;                // bumped by every move; callbacks of older sources do nothing
    std::string source;              // the peer relayed from; "" for this replica's own windows
    std::shared_ptr<PeerClient::Relay> relay;
    std::shared_ptr<engine::TrackedObject> object;  // subscribed here (source "")
    uint64_t subscription = 0;
    std::string key;                      // immutable after Opened()
    externalscaler::ScaledObjectRef ref;  // likewise
  };

  /// Set before the stream is registered with the service, never changed: read under the
  /// service's lock by RerouteStreams. Null for a stream that is not routed (no HA, or marked).
  std::shared_ptr<Route> route() const { return route_; }

  /// Moves `route` when the first replica in line for its trigger is no longer its source.
  static void Reroute(ExternalScalerService* service, const std::shared_ptr<Route>& route) {
    std::string current;
    {
      std::lock_guard lock(route->mu);
      if (route->stream == nullptr) return;
      current = route->source;
    }
    auto targets = service->options_.router->Targets(route->key, /*avoided_last=*/false);
    std::string want = targets.empty() ? std::string() : targets[0];
    if (want == current) return;
    telemetry::Log(telemetry::Logger("service"), spdlog::level::info, RefFields(route->ref),
                   "StreamIsActive for {}/{}: the owners changed; moving it from {} to {}", route->ref.namespace_(),
                   route->ref.name(), current.empty() ? "this replica" : current, want.empty() ? "this replica" : want);
    MoveTo(service, route, want);
  }

 private:
  void Opened() override {
    std::string key = service_->RouteKey(context(), request());
    if (!key.empty()) return OpenRouted(std::move(key));
    Hold();  // the resolve may finish on a builder thread
    service_->ResolveThen(request(), [this](const ExternalScalerService::Resolved& obj) {
      Continue(obj);
      Release();
    });
  }

  void OpenRouted(std::string key) {
    route_ = std::make_shared<Route>();
    route_->stream = this;
    route_->key = std::move(key);
    route_->ref = request();
    if (std::optional<grpc::Status> refused = service_->AddStream(this)) {
      if (!refused->ok()) service_->metrics_->RecordGrpc("StreamIsActive", GrpcCodeName(refused->error_code()), 0);
      End(*refused);
      return;
    }
    registered_ = true;
    service_->metrics_->AddStreamClients(1);
    auto targets = service_->options_.router->Targets(route_->key, /*avoided_last=*/false);
    MoveTo(service_, route_, targets.empty() ? std::string() : targets[0]);
  }

  /// Makes `source` (a peer, or "" for here) the stream's only source: the previous relay is
  /// cancelled or the local subscription dropped, then the new one opened.
  static void MoveTo(ExternalScalerService* service, const std::shared_ptr<Route>& st, const std::string& source) {
    std::shared_ptr<PeerClient::Relay> old_relay;
    std::shared_ptr<engine::TrackedObject> old_object;
    uint64_t old_subscription = 0, gen = 0;
    ActiveStream* self = nullptr;
    {
      std::lock_guard lock(st->mu);
      if (st->stream == nullptr) return;
      self = st->stream;
      gen = ++st->gen;
      st->source = source;
      old_relay = std::move(st->relay);
      old_object = std::move(st->object);
      old_subscription = st->subscription;
      st->relay.reset();
      st->object.reset();
      if (source.empty()) self->Hold();  // it cannot close until SubscribeHere releases it
    }
    if (old_relay) old_relay->Cancel();  // its `ended` sees a newer gen and does nothing
    if (old_object) old_object->Unsubscribe(old_subscription);
    if (source.empty()) return SubscribeHere(service, st, gen, self);

    auto relay = service->options_.peers->StreamIsActive(
        source, st->ref,
        [st, gen] {
          std::lock_guard lock(st->mu);
          if (st->stream != nullptr && st->gen == gen) st->stream->PushActive();
        },
        [service, st, gen, source](const grpc::Status& status) { RelayEnded(service, st, gen, source, status); });
    {
      std::lock_guard lock(st->mu);
      if (st->stream != nullptr && st->gen == gen) {
        st->relay = std::move(relay);
        return;
      }
    }
    relay->Cancel();  // closed or moved again meanwhile
  }

  static void RelayEnded(ExternalScalerService* service, const std::shared_ptr<Route>& st, uint64_t gen,
                         const std::string& peer, const grpc::Status& status) {
    {
      std::lock_guard lock(st->mu);
      if (st->stream == nullptr || st->gen != gen) return;  // KEDA's stream is over, or it moved
      st->relay.reset();
      auto code = status.error_code();
      bool move = code == grpc::StatusCode::OK || code == grpc::StatusCode::UNAVAILABLE ||
                  code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                  code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::INTERNAL;
      if (!move) {  // the owner's verdict on the trigger (bad metadata, too many streams)
        st->stream->End(status);
        return;
      }
    }
    // The owner ended the stream (shutting down) or is gone: avoid it and move on.
    service->options_.router->Failed(peer);
    const char* code = GrpcCodeName(status.error_code());
    telemetry::Log(telemetry::Logger("service"), spdlog::level::info, RefFields(st->ref, code),
                   "StreamIsActive relay from {} ended ({}); moving it", peer, code);
    auto targets = service->options_.router->Targets(st->key, /*avoided_last=*/false);
    MoveTo(service, st, targets.empty() ? std::string() : targets[0]);
  }

  /// Subscribes `st` to this replica's own object (built if needed); `self` was held by MoveTo.
  static void SubscribeHere(ExternalScalerService* service, const std::shared_ptr<Route>& st, uint64_t gen,
                            ActiveStream* self) {
    service->ResolveThen(st->ref, [service, st, gen, self](const ExternalScalerService::Resolved& obj) {
      auto current = [&] {
        std::lock_guard lock(st->mu);
        return st->stream != nullptr && st->gen == gen;
      };
      if (!obj.ok()) {
        if (current()) {
          grpc::Status status = ToGrpcStatus(obj.status());
          service->metrics_->RecordGrpc("StreamIsActive", GrpcCodeName(status.error_code()), 0);
          self->End(status);
        }
        self->Release();
        return;
      }
      std::shared_ptr<engine::TrackedObject> object = *obj;
      uint64_t id = object->Subscribe([st, gen] {
        std::lock_guard lock(st->mu);
        if (st->stream != nullptr && st->gen == gen) st->stream->PushActive();
      });
      bool kept = false;
      {
        std::lock_guard lock(st->mu);
        if (st->stream != nullptr && st->gen == gen) {
          st->object = object;
          st->subscription = id;
          kept = true;
        }
      }
      if (!kept) {
        object->Unsubscribe(id);
      } else {
        // On open or move: `true` at once if active now, otherwise nothing (docs/operations.md "What KEDA gets, and
        // when").
        auto ev = object->Latest();
        if (ev->status.ok() && ev->active) {
          std::lock_guard lock(st->mu);
          if (st->stream != nullptr && st->gen == gen) st->stream->PushActive();
        }
      }
      self->Release();  // last: the stream may close here
    });
  }

  void Continue(const ExternalScalerService::Resolved& obj) {
    if (!obj.ok()) {
      grpc::Status status = ToGrpcStatus(obj.status());
      service_->metrics_->RecordGrpc("StreamIsActive", GrpcCodeName(status.error_code()), 0);
      End(status);
      return;
    }
    // Not accepted: shutting down (OK: KEDA reconnects to another replica) or too many streams.
    if (std::optional<grpc::Status> refused = service_->AddStream(this)) {
      if (!refused->ok()) service_->metrics_->RecordGrpc("StreamIsActive", GrpcCodeName(refused->error_code()), 0);
      End(*refused);
      return;
    }
    registered_ = true;
    service_->metrics_->AddStreamClients(1);
    object_ = *obj;
    subscription_ = object_->Subscribe([this] { PushActive(); });
    // On open: send `true` at once if active now, otherwise nothing (docs/operations.md "What KEDA gets, and when").
    auto ev = object_->Latest();
    if (ev->status.ok() && ev->active) PushActive();
  }

  void Closed() override {
    if (route_) {
      std::shared_ptr<PeerClient::Relay> relay;
      std::shared_ptr<engine::TrackedObject> object;
      uint64_t subscription = 0;
      {
        std::lock_guard lock(route_->mu);
        route_->stream = nullptr;  // after this no relay or subscriber callback reaches this object
        relay = std::move(route_->relay);
        object = std::move(route_->object);
        subscription = route_->subscription;
      }
      if (relay) relay->Cancel();
      if (object) object->Unsubscribe(subscription);
    }
    if (object_) object_->Unsubscribe(subscription_);  // after this no PushActive() runs
    if (registered_) {
      service_->metrics_->AddStreamClients(-1);
      service_->RemoveStream(this);
    }
  }

  void PushActive() {
    service_->metrics_->RecordStreamPush();
    Push(active_);
  }

  ExternalScalerService* service_;
  std::shared_ptr<engine::TrackedObject> object_;  // not routed: subscribed here for its whole life
  std::shared_ptr<Route> route_;
  uint64_t subscription_ = 0;
  bool registered_ = false;
  IsActiveResponse active_;
};

/// StreamMetricSpec is optional in the contract; KEDA then keeps calling GetMetricSpec.
class MetricSpecStream final
    : public PushStream<externalscaler::ScaledObjectRef, externalscaler::GetMetricSpecResponse> {
  void Opened() override {
    End({grpc::StatusCode::UNIMPLEMENTED,
         "StreamMetricSpec is not implemented by nim-scaler; metric specs come from GetMetricSpec"});
  }
  void Closed() override {}
};

/// Runs callbacks after a delay on one thread (deadlines of deferred answers). After Stop(),
/// pending callbacks have run and new ones run at once.
class ExternalScalerService::DelayedCalls {
 public:
  DelayedCalls() : thread_([this] { Run(); }) {}
  ~DelayedCalls() { Stop(); }

  void After(std::chrono::milliseconds delay, std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      if (!stop_) {
        calls_.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
        cv_.notify_all();
        return;
      }
    }
    fn();
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      if (calls_.empty()) {
        if (stop_) return;
        cv_.wait(lock);
        continue;
      }
      auto next = calls_.begin();
      if (!stop_ && next->first > std::chrono::steady_clock::now()) {
        cv_.wait_until(lock, next->first);
        continue;
      }
      auto fn = std::move(next->second);
      calls_.erase(next);
      lock.unlock();
      fn();  // at shutdown, pending calls run at once so no answer is left hanging
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> calls_;
  bool stop_ = false;
  std::thread thread_;
};

/// Since when each tracked object has been seen here (HA: an owner answers from its own windows
/// only once they are warm). Keyed by the object; the weak pointer keeps the object's storage
/// (make_shared) from being reused by another object while its entry exists, and an expired
/// one is a forgotten object: seen again, it starts over. Thread-safe.
class ExternalScalerService::WarmUp {
 public:
  TimePoint Since(const std::shared_ptr<engine::TrackedObject>& obj, TimePoint now) {
    std::lock_guard lock(mu_);
    auto [it, added] = seen_.try_emplace(obj.get());
    if (added || it->second.object.expired()) it->second = Seen{obj, now};
    if (seen_.size() >= prune_at_) {
      std::erase_if(seen_, [](const auto& kv) { return kv.second.object.expired(); });
      prune_at_ = std::max<size_t>(1024, 2 * seen_.size());
    }
    return it->second.since;
  }

 private:
  struct Seen {
    std::weak_ptr<engine::TrackedObject> object;
    TimePoint since{};
  };
  std::mutex mu_;
  std::unordered_map<const engine::TrackedObject*, Seen> seen_;
  size_t prune_at_ = 1024;
};

ExternalScalerService::ExternalScalerService(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics,
                                             const Clock* clock, Options options)
    : engine_(engine),
      metrics_(metrics),
      clock_(clock),
      options_(std::move(options)),
      timers_(std::make_unique<DelayedCalls>()),
      warm_up_(std::make_unique<WarmUp>()) {
  SpecBuilders::BuildFn build = options_.build;
  if (!build) {
    build = [engine](const std::string& ns, const std::string& name, const config::Metadata& md) {
      return engine->Resolve(ns, name, md);
    };
  }
  builders_ = std::make_unique<SpecBuilders>(std::move(build), std::max<size_t>(1, options_.builder_threads),
                                             options_.max_queued_builds);
}

ExternalScalerService::~ExternalScalerService() { Stop(); }

void ExternalScalerService::Start(CallLoop* loop) {
  loop_ = loop;
  // Calls that find no open slot queue inside gRPC until one is reopened; a few suffice.
  constexpr int kUnarySlots = 16, kStreamSlots = 4;
  for (int i = 0; i < kUnarySlots; ++i) {
    SpecCall::Open(this, loop, &ExternalScalerService::RequestGetMetricSpec,
                   &ExternalScalerService::HandleGetMetricSpec);
    MetricsCall::Open(this, loop, &ExternalScalerService::RequestGetMetrics, &ExternalScalerService::HandleGetMetrics);
    ActiveCall::Open(this, loop, &ExternalScalerService::RequestIsActive, &ExternalScalerService::HandleIsActive);
  }
  for (int i = 0; i < kStreamSlots; ++i) OpenStreamIsActive();
  OpenStreamMetricSpec();
  if (options_.router && options_.peers) timers_->After(std::chrono::milliseconds(500), [this] { RerouteStreams(); });
}

void ExternalScalerService::RerouteStreams() {
  if (stopping_.load()) return;  // at Stop() the timer runs this once more, at once: do not re-arm
  std::vector<std::string> peers = options_.router->Peers();
  if (peers != rerouted_for_) {
    rerouted_for_ = std::move(peers);
    std::vector<std::shared_ptr<ActiveStream::Route>> routes;
    {
      std::lock_guard lock(mu_);  // a stream in streams_ is not deleted before RemoveStream
      if (!shutting_down_) {
        for (ActiveStream* s : streams_) {
          if (auto r = s->route()) routes.push_back(std::move(r));
        }
      }
    }
    for (const auto& r : routes) ActiveStream::Reroute(this, r);
  }
  timers_->After(std::chrono::milliseconds(500), [this] { RerouteStreams(); });
}

void ExternalScalerService::OpenStreamIsActive() {
  (new ActiveStream(this))
      ->Open(
          loop_,
          [this](auto* ctx, auto* req, auto* writer, auto* cq, void* tag) {
            RequestStreamIsActive(ctx, req, writer, cq, cq, tag);
          },
          [this] { OpenStreamIsActive(); });
}

void ExternalScalerService::OpenStreamMetricSpec() {
  (new MetricSpecStream())
      ->Open(
          loop_,
          [this](auto* ctx, auto* req, auto* writer, auto* cq, void* tag) {
            RequestStreamMetricSpec(ctx, req, writer, cq, cq, tag);
          },
          [this] { OpenStreamMetricSpec(); });
}

void ExternalScalerService::Stop() {
  stopping_.store(true);
  builders_->Stop();  // queued builds answered UNAVAILABLE, running ones finish
  timers_->Stop();
}

bool ExternalScalerService::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  while (inflight_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void ExternalScalerService::ResolveThen(const externalscaler::ScaledObjectRef& ref,
                                        std::function<void(const Resolved&)> next) {
  // Issue 19 item 10: names are checked before anything is looked up, copied or logged.
  if (auto bad = CheckNamespace(ref.namespace_())) return next(InvalidArgument(*bad));
  if (auto bad = CheckName(ref.name())) return next(InvalidArgument(*bad));
  if (ref.scalermetadata().size() <= kMaxInlineMetadataKeys) {
    config::Metadata md = ToMetadata(ref);
    if (auto hit = engine_->Lookup(ref.namespace_(), ref.name(), md)) {
      if (options_.router && hit->ok()) warm_up_->Since(**hit, clock_->Now());
      return next(*hit);
    }
    if (options_.router) {
      next = [this, next = std::move(next)](const Resolved& obj) {
        if (obj.ok()) warm_up_->Since(*obj, clock_->Now());
        next(obj);
      };
    }
    return builders_->Submit(ref.namespace_(), ref.name(), std::move(md), std::move(next));
  }
  // Issue 19 item 9: a huge map is copied and built on a builder thread, never here.
  builders_->Submit(ref.namespace_(), ref.name(), ToMetadata(ref), std::move(next));
}

template <class Call>
void ExternalScalerService::Answer(Call* call, const char* method, TimePoint start, const grpc::Status& status) {
  metrics_->RecordGrpc(method, GrpcCodeName(status.error_code()), ToSeconds(clock_->Now() - start));
  if (options_.router) call->context().AddTrailingMetadata(kAnsweredTrailer, "1");
  call->Answer(Capped(status));  // `call` may be gone after this
  inflight_.fetch_sub(1);
}

namespace {
std::string Mark(const grpc::ServerContext& ctx) {
  auto it = ctx.client_metadata().find(kForwardedHeader);
  return it == ctx.client_metadata().end() ? std::string() : std::string(it->second.data(), it->second.size());
}
}  // namespace

std::string ExternalScalerService::TriggerKeyOf(const externalscaler::ScaledObjectRef& ref) {
  // Bad input is answered (and refused) here; so is a map too large to hash on this thread.
  if (CheckNamespace(ref.namespace_()) || CheckName(ref.name())) return "";
  if (ref.scalermetadata().size() > kMaxInlineMetadataKeys) return "";
  return cluster::TriggerKey(ref.namespace_(), ref.name(), trigger::HashMetadata(ToMetadata(ref)));
}

std::string ExternalScalerService::RouteKey(grpc::ServerContext& ctx,
                                            const externalscaler::ScaledObjectRef& ref) const {
  if (!options_.router || !options_.peers) return "";
  if (!Mark(ctx).empty()) return "";  // a peer's call is answered where it lands
  return TriggerKeyOf(ref);
}

template <class Call, class Response>
bool ExternalScalerService::Forwarded(Call* call, const externalscaler::ScaledObjectRef& ref, const char* method,
                                      TimePoint start, bool needs_warm, ForwardFn<Response> forward,
                                      std::function<void()> answer_here) {
  if (!options_.router || !options_.peers) return false;
  std::string mark = Mark(call->context());
  if (mark.rfind(kForwardedSuccessor, 0) == 0) {
    // A cold owner's call: answered here when this replica has collected the trigger longer
    // than the owner has; otherwise the owner is told to answer itself.
    if (!needs_warm || !ColderThanOwner(ref, mark)) return false;
    Answer(call, method, start, {grpc::StatusCode::ABORTED, kColderThanOwner});
    return true;
  }
  if (!mark.empty() && mark != kForwardedCall) return false;  // warm: answered here
  std::string key = TriggerKeyOf(ref);
  if (key.empty()) return false;
  std::vector<std::string> targets;
  // A call a peer forwarded here (as to the owner) is answered here, unless this replica is
  // the owner and still cold: then its successor answers (marked, so it goes no further).
  if (mark.empty()) targets = options_.router->Targets(key);
  std::string how = kForwardedCall;
  if (targets.empty()) {
    Duration age{};
    std::string successor = needs_warm ? ColdOwnerSuccessor(ref, key, &age) : std::string();
    if (successor.empty()) {
      WarmSuccessor(ref, key);
      return false;
    }
    targets.push_back(std::move(successor));
    how = std::string(kForwardedSuccessor) + ";" +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(age).count());
  }
  TryPeers<Call, Response>(call, std::make_shared<std::vector<std::string>>(std::move(targets)), 0, method, start,
                           std::move(how), HopDeadline(call->context()), std::move(forward), std::move(answer_here));
  return true;
}

template <class Call, class Response, class Request>
void ExternalScalerService::RouteOrAnswer(Call* call, const externalscaler::ScaledObjectRef& ref, const char* method,
                                          TimePoint start, bool needs_warm, PeerSend<Request, Response> send,
                                          void (ExternalScalerService::*answer)(Call*, TimePoint)) {
  auto answer_here = [this, call, start, answer] { (this->*answer)(call, start); };
  ForwardFn<Response> forward = [this, call, send](const std::string& peer, const char* mark,
                                                   std::chrono::milliseconds deadline,
                                                   PeerClient::Done<Response> done) {
    ((*options_.peers).*send)(peer, call->request, deadline, mark, std::move(done));
  };
  if (Forwarded<Call, Response>(call, ref, method, start, needs_warm, std::move(forward), answer_here)) return;
  answer_here();
}

template <class Call, class Response>
void ExternalScalerService::TryPeers(Call* call, std::shared_ptr<std::vector<std::string>> peers, size_t i,
                                     const char* method, TimePoint start, std::string mark,
                                     std::chrono::milliseconds deadline, ForwardFn<Response> forward,
                                     std::function<void()> answer_here) {
  if (i >= peers->size()) {
    // No replica in line answered: this replica answers from its own data.
    telemetry::Log(telemetry::Logger("service"), spdlog::level::warn, RefFields(RefOf(call->request)),
                   "{}: no peer in line answered ({} tried); answering here", method, peers->size());
    return answer_here();
  }
  const std::string peer = (*peers)[i];
  forward(peer, mark.c_str(), deadline,  // the mark is copied into the call's metadata at once
          [this, call, peers, i, method, start, mark, deadline, forward, answer_here, peer](
              const grpc::Status& status, const Response& response, bool answered) {
            if (answered && status.error_code() == grpc::StatusCode::ABORTED &&
                status.error_message() == kColderThanOwner) {
              return answer_here();  // the successor has collected it for less time than this replica
            }
            if (!answered) {
              options_.router->Failed(peer);
              return TryPeers<Call, Response>(call, peers, i + 1, method, start, mark, deadline, forward, answer_here);
            }
            call->response = response;
            Answer(call, method, start, status);
          });
}

std::chrono::milliseconds ExternalScalerService::HopDeadline(const grpc::ServerContext& ctx) const {
  auto deadline = ctx.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return options_.forward_deadline;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::system_clock::now()) -
              std::chrono::milliseconds(50);
  return std::clamp(left, std::chrono::milliseconds(20),
                    std::max(std::chrono::milliseconds(20), options_.forward_deadline));
}

std::string ExternalScalerService::ColdOwnerSuccessor(const externalscaler::ScaledObjectRef& ref,
                                                      const std::string& key, Duration* age) {
  *age = Duration::zero();
  // The owner by the peer list hands its calls on to its successor by the peer list; any other
  // replica answering here (a peer forwarded the call while the two peer lists differed for a
  // moment, during a change, or the owner failed lately) to the owner by its own list. Never to
  // a third replica, which does not collect the trigger. The replica asked is asked even when a
  // call to it failed lately (a replica just started often fails its first calls while its
  // channels connect): the one with the longer history answers, and when it does not answer
  // this replica answers after all.
  cluster::Owners owners = cluster::OwnersOf(key, options_.router->Peers());
  const std::string& other = owners.owner == options_.router->self() ? owners.successor : owners.owner;
  if (other.empty() || other == options_.router->self()) return "";
  // `key` is non-empty: the names are valid and the map is small enough to look up here.
  config::Metadata md = ToMetadata(ref);
  auto hit = engine_->Lookup(ref.namespace_(), ref.name(), md);
  if (!hit) {
    // Not collected here yet: start now (the answer does not wait for it) and let the successor,
    // whose windows are warm, answer meanwhile. A full build queue only delays the start.
    builders_->Submit(ref.namespace_(), ref.name(), std::move(md), [this](const Resolved& obj) {
      if (obj.ok()) warm_up_->Since(*obj, clock_->Now());
    });
    return other;
  }
  if (!hit->ok()) return "";  // bad metadata: the same error everywhere, answered here
  if (Warm(**hit)) return "";
  if ((**hit)->HasCompletedCycle()) *age = clock_->Now() - warm_up_->Since(**hit, clock_->Now());
  return other;
}

bool ExternalScalerService::ColderThanOwner(const externalscaler::ScaledObjectRef& ref, const std::string& mark) {
  if (CheckNamespace(ref.namespace_()) || CheckName(ref.name())) return false;  // refused here
  if (ref.scalermetadata().size() > kMaxInlineMetadataKeys) return false;
  // "successor;<ms>": how long the owner has collected the trigger.
  Duration owner_age{};
  if (size_t semi = mark.find(';'); semi != std::string::npos) {
    owner_age = std::chrono::milliseconds(std::strtoll(mark.c_str() + semi + 1, nullptr, 10));
  }
  config::Metadata md = ToMetadata(ref);
  auto hit = engine_->Lookup(ref.namespace_(), ref.name(), md);
  if (!hit) {
    // The successor collects it too: start (its owner warms it anyway), and let the owner answer.
    builders_->Submit(ref.namespace_(), ref.name(), std::move(md), [this](const Resolved& obj) {
      if (obj.ok()) warm_up_->Since(*obj, clock_->Now());
    });
    return true;
  }
  if (!hit->ok()) return false;
  if (!(**hit)->HasCompletedCycle()) return true;
  // Longer by more than two intervals: two replicas that began at about the same time (a new
  // trigger) leave it to the owner, so answers do not alternate between them.
  TimePoint now = clock_->Now();
  return now - warm_up_->Since(**hit, now) <= owner_age + 2 * (**hit)->spec().scrape_interval;
}

bool ExternalScalerService::Warm(const std::shared_ptr<engine::TrackedObject>& obj) {
  if (!obj->HasCompletedCycle()) return false;
  TimePoint now = clock_->Now();
  const auto& spec = obj->spec();
  return now - warm_up_->Since(obj, now) >= spec.window + 2 * spec.scrape_interval;
}

void ExternalScalerService::WarmSuccessor(const externalscaler::ScaledObjectRef& ref, const std::string& key) {
  if (!options_.router || !options_.peers || key.empty()) return;
  std::string successor = options_.router->SuccessorToWarm(key, std::chrono::seconds(60));
  if (successor.empty()) return;
  options_.peers->IsActive(successor, ref, std::chrono::seconds(5), kForwardedWarm,
                           [](const grpc::Status&, const externalscaler::IsActiveResponse&, bool) {});
}

size_t ExternalScalerService::BroadcastWake(const std::string& ns, const std::string& name) {
  if (!options_.router || !options_.peers) return 0;
  externalscaler::ScaledObjectRef ref;
  ref.set_namespace_(ns);
  // A wake by Service carries the Service's name, and a mark that says so (issue 18 item 2).
  bool by_service = name.rfind(engine::kServiceWakePrefix, 0) == 0;
  const char* mark = by_service ? kForwardedServiceWake : kForwardedWake;
  ref.set_name(by_service ? name.substr(engine::kServiceWakePrefix.size()) : name);
  std::string what = (by_service ? "Service " : "") + ns + "/" + ref.name();
  size_t sent = 0;
  for (const auto& peer : options_.router->Peers()) {
    if (peer == options_.router->self()) continue;
    options_.peers->IsActive(peer, ref, std::chrono::seconds(2), mark,
                             [peer, ns, name = by_service ? std::string() : name, what](
                                 const grpc::Status& status, const externalscaler::IsActiveResponse&, bool answered) {
                               if (!answered || !status.ok()) {
                                 telemetry::Log(
                                     telemetry::Logger("service"), spdlog::level::warn,
                                     {.ns = ns, .scaledobject = name, .code = GrpcCodeName(status.error_code())},
                                     "wake of {} not delivered to peer {}: {}", what, peer, status.error_message());
                               }
                             });
    ++sent;
  }
  return sent;
}

void ExternalScalerService::HandleGetMetricSpec(SpecCall* call) {
  inflight_.fetch_add(1);
  RouteOrAnswer(call, call->request, "GetMetricSpec", clock_->Now(), /*needs_warm=*/false, &PeerClient::GetMetricSpec,
                &ExternalScalerService::AnswerGetMetricSpec);
}

void ExternalScalerService::AnswerGetMetricSpec(SpecCall* call, TimePoint start) {
  // Configuration only: never depends on a scrape (docs/operations.md "What KEDA gets, and when").
  ResolveThen(call->request, [this, call, start](const Resolved& obj) {
    if (!obj.ok()) return Answer(call, "GetMetricSpec", start, ToGrpcStatus(obj.status()));
    const auto& spec = (*obj)->spec();
    auto* ms = call->response.add_metricspecs();
    ms->set_metricname(spec.metric_name);
    ms->set_targetsizefloat(spec.target_size);
    ms->set_targetsize(std::max<int64_t>(1, MetricValueInt(spec.target_size)));
    Answer(call, "GetMetricSpec", start, grpc::Status::OK);
  });
}

void ExternalScalerService::HandleGetMetrics(MetricsCall* call) {
  inflight_.fetch_add(1);
  RouteOrAnswer(call, call->request.scaledobjectref(), "GetMetrics", clock_->Now(), /*needs_warm=*/true,
                &PeerClient::GetMetrics, &ExternalScalerService::AnswerGetMetrics);
}

void ExternalScalerService::AnswerGetMetrics(MetricsCall* call, TimePoint start) {
  ResolveThen(call->request.scaledobjectref(), [this, call, start](const Resolved& obj) {
    if (!obj.ok()) return Answer(call, "GetMetrics", start, ToGrpcStatus(obj.status()));
    const auto& spec = (*obj)->spec();
    const auto& req = call->request;
    if (!MetricNameMatches(req.metricname(), spec.metric_name)) {
      return Answer(call, "GetMetrics", start,
                    {grpc::StatusCode::NOT_FOUND, spec.key.ToString() + ": unknown metric \"" +
                                                      CapErrorText(req.metricname(), 256) +
                                                      "\"; this trigger reports \"" + spec.metric_name + "\""});
    }
    auto answer = [call](const engine::Evaluation& ev) {
      if (!ev.status.ok()) return ToGrpcStatus(ev.status);
      auto* mv = call->response.add_metricvalues();
      mv->set_metricname(call->request.metricname());
      // Issue 19 item 13: finite, and an int64 that is always defined.
      mv->set_metricvaluefloat(FiniteMetricValue(ev.value));
      mv->set_metricvalue(MetricValueInt(ev.value));
      return grpc::Status::OK;
    };
    AnswerFromMemory(call, "GetMetrics", start, *obj, answer);
  });
}

void ExternalScalerService::HandleIsActive(ActiveCall* call) {
  inflight_.fetch_add(1);
  TimePoint start = clock_->Now();
  if (options_.router) {
    const std::string mark = Mark(call->context());
    if (mark == kForwardedWake || mark == kForwardedServiceWake) {
      return AnswerPeerWake(call, start, /*by_service=*/mark == kForwardedServiceWake);
    }
  }
  RouteOrAnswer(call, call->request, "IsActive", start, /*needs_warm=*/true, &PeerClient::IsActive,
                &ExternalScalerService::AnswerIsActive);
}

void ExternalScalerService::AnswerPeerWake(ActiveCall* call, TimePoint start, bool by_service) {
  const auto& ref = call->request;
  // A Service name is a DNS-1123 label, as a namespace is.
  if (CheckNamespace(ref.namespace_()) || (by_service ? CheckNamespace(ref.name()) : CheckName(ref.name()))) {
    return Answer(call, "IsActive", start, {grpc::StatusCode::INVALID_ARGUMENT, "bad wake target"});
  }
  const TimePoint now = clock_->Now();
  const TimePoint remember_until = now + std::chrono::minutes(5);
  bool woke = false;
  if (by_service) {
    std::string reason = "the wake hook (Service " + ref.namespace_() + "/" + ref.name() + ", via a peer)";
    woke = engine_->WakeService(ref.namespace_(), ref.name(), now, reason).triggers > 0;
    engine_->RecordPendingServiceWake(ref.namespace_(), ref.name(), remember_until, reason);
  } else {
    const char* reason = "the wake hook (via a peer)";
    woke = engine_->Wake(ref.namespace_(), ref.name(), now, reason) > 0;
    engine_->RecordPendingWake(ref.namespace_(), ref.name(), remember_until, reason);
  }
  call->response.set_result(woke);
  Answer(call, "IsActive", start, grpc::Status::OK);
}

void ExternalScalerService::AnswerIsActive(ActiveCall* call, TimePoint start) {
  ResolveThen(call->request, [this, call, start](const Resolved& obj) {
    if (!obj.ok()) return Answer(call, "IsActive", start, ToGrpcStatus(obj.status()));
    auto answer = [call](const engine::Evaluation& ev) {
      if (!ev.status.ok()) return ToGrpcStatus(ev.status);
      call->response.set_result(ev.active);
      return grpc::Status::OK;
    };
    AnswerFromMemory(call, "IsActive", start, *obj, answer);
  });
}

template <class Call>
void ExternalScalerService::AnswerFromMemory(Call* call, const char* method, TimePoint start,
                                             const std::shared_ptr<engine::TrackedObject>& obj,
                                             std::function<grpc::Status(const engine::Evaluation&)> answer) {
  auto ev = obj->Latest();
  if (!ev->pending) return Answer(call, method, start, answer(*ev));
  // KEDA calls GetMetrics right after the GetMetricSpec that started tracking: rather than
  // failing that first poll, answer when the first collection cycle is published.
  // The wait is bounded: a hung pod must not hold a call whose client set no deadline (KEDA's
  // polling loop sets none), so after kFirstAnswerWait it is UNAVAILABLE and KEDA asks again.
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto finish = [this, call, method, start, obj, done, answer = std::move(answer)](bool timed_out) {
    if (done->exchange(true)) return;  // the other path already answered
    grpc::Status status =
        timed_out ? grpc::Status(grpc::StatusCode::UNAVAILABLE, obj->spec().key.ToString() +
                                                                    ": the first collection is still running after " +
                                                                    std::to_string(kFirstAnswerWait.count()) +
                                                                    "ms (a pod is slow to answer); "
                                                                    "the next call will have data")
                  : answer(*obj->Latest());
    Answer(call, method, start, status);
  };
  timers_->After(kFirstAnswerWait, [finish] { finish(true); });
  obj->OnFirstCycle([finish] { finish(false); });
}

std::optional<grpc::Status> ExternalScalerService::AddStream(ActiveStream* s) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return grpc::Status::OK;
  if (streams_.size() >= options_.max_active_streams) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        std::to_string(streams_.size()) +
                            " StreamIsActive streams are open, the most this scaler "
                            "accepts (" +
                            std::to_string(options_.max_active_streams) +
                            "); close unused streams or spread ScaledObjects over more scaler replicas");
  }
  streams_.insert(s);
  if (options_.max_stream_age.count() > 0) {
    timers_->After(options_.max_stream_age, [this, s] {
      std::lock_guard relock(mu_);
      if (streams_.count(s)) s->End(grpc::Status::OK);  // KEDA reopens in 2 s, on a fresh connection
    });
  }
  return std::nullopt;
}

void ExternalScalerService::RemoveStream(ActiveStream* s) {
  std::lock_guard lock(mu_);
  streams_.erase(s);
}

void ExternalScalerService::FinishAllStreams() {
  // Hold mu_ while ending them: a stream is deleted only after RemoveStream (under mu_).
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  for (ActiveStream* s : streams_) s->End(grpc::Status::OK);
  telemetry::Logger("service")->info("finished {} StreamIsActive stream(s) with status OK", streams_.size());
}

}  // namespace nimscaler::service
