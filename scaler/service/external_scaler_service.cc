// Exports ExternalScalerService and ToGrpcStatus().
#include "scaler/service/external_scaler_service.h"

#include <cmath>
#include <condition_variable>
#include <map>
#include <thread>

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
    default: return "OTHER";
  }
}

// Every error a caller sees is capped; OK passes through.
grpc::Status Capped(const grpc::Status& status) {
  if (status.ok() || status.error_message().size() <= kMaxErrorTextBytes) return status;
  return {status.error_code(), CapErrorText(status.error_message())};
}

}  // namespace

/// One StreamIsActive call: subscribed to its object's inactive->active edges; every message
/// is `true` (keda-contract.md §8: `false` is never sent).
class ActiveStream final : public PushStream<externalscaler::ScaledObjectRef, IsActiveResponse> {
 public:
  explicit ActiveStream(ExternalScalerService* service) : service_(service) { active_.set_result(true); }

 private:
  void Opened() override {
    Hold();  // the resolve may finish on a builder thread
    service_->ResolveThen(request(), [this](const ExternalScalerService::Resolved& obj) {
      Continue(obj);
      Release();
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
    object_ = *obj;
    service_->metrics_->AddStreamClients(1);
    subscription_ = object_->Subscribe([this] { PushActive(); });
    // On open: send `true` at once if active now, otherwise nothing (keda-contract.md §8).
    auto ev = object_->Latest();
    if (ev->status.ok() && ev->active) PushActive();
  }

  void Closed() override {
    if (object_) {
      object_->Unsubscribe(subscription_);  // after this no PushActive() runs
      service_->metrics_->AddStreamClients(-1);
    }
    if (registered_) service_->RemoveStream(this);
  }

  void PushActive() {
    service_->metrics_->RecordStreamPush();
    Push(active_);
  }

  ExternalScalerService* service_;
  std::shared_ptr<engine::TrackedObject> object_;
  uint64_t subscription_ = 0;
  bool registered_ = false;
  IsActiveResponse active_;
};

/// StreamMetricSpec is optional in the contract; KEDA then keeps calling GetMetricSpec.
class MetricSpecStream final : public PushStream<externalscaler::ScaledObjectRef,
                                                 externalscaler::GetMetricSpecResponse> {
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

ExternalScalerService::ExternalScalerService(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics,
                                             const Clock* clock, Options options)
    : engine_(engine),
      metrics_(metrics),
      clock_(clock),
      options_(std::move(options)),
      timers_(std::make_unique<DelayedCalls>()) {
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
    if (auto hit = engine_->Lookup(ref.namespace_(), ref.name(), md)) return next(*hit);
    return builders_->Submit(ref.namespace_(), ref.name(), std::move(md), std::move(next));
  }
  // Issue 19 item 9: a huge map is copied and built on a builder thread, never here.
  builders_->Submit(ref.namespace_(), ref.name(), ToMetadata(ref), std::move(next));
}

template <class Call>
void ExternalScalerService::Answer(Call* call, const char* method, TimePoint start, const grpc::Status& status) {
  metrics_->RecordGrpc(method, GrpcCodeName(status.error_code()), ToSeconds(clock_->Now() - start));
  call->Answer(Capped(status));  // `call` may be gone after this
  inflight_.fetch_sub(1);
}

void ExternalScalerService::HandleGetMetricSpec(SpecCall* call) {
  inflight_.fetch_add(1);
  TimePoint start = clock_->Now();
  // Configuration only: never depends on a scrape (keda-contract.md §0.8).
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
  TimePoint start = clock_->Now();
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
        timed_out ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 obj->spec().key.ToString() + ": the first collection is still running after " +
                                     std::to_string(kFirstAnswerWait.count()) + "ms (a pod is slow to answer); "
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
                        std::to_string(streams_.size()) + " StreamIsActive streams are open, the most this scaler "
                        "accepts (" + std::to_string(options_.max_active_streams) +
                        "); close unused streams or spread ScaledObjects over more scaler replicas");
  }
  streams_.insert(s);
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
