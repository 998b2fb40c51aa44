// Exports ExternalScalerService and ToGrpcStatus().
#include "scaler/service/external_scaler_service.h"

#include <cmath>
#include <condition_variable>
#include <map>
#include <thread>

#include "scaler/service/naming.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::service {

using externalscaler::IsActiveResponse;

grpc::Status ToGrpcStatus(const Status& status) {
  switch (status.code()) {
    case Code::kOk: return grpc::Status::OK;
    case Code::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, status.message()};
    case Code::kNotFound: return {grpc::StatusCode::NOT_FOUND, status.message()};
    case Code::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, status.message()};
    case Code::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, status.message()};
    case Code::kDeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, status.message()};
    case Code::kInternal: return {grpc::StatusCode::INTERNAL, status.message()};
  }
  return {grpc::StatusCode::UNKNOWN, status.message()};
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
    default: return "OTHER";
  }
}

}  // namespace

/// One StreamIsActive call. Owns itself: deleted in OnDone(). Writes are serialised: at
/// most one in flight; a `true` that arrives meanwhile is coalesced into one more write.
class ActiveStream final : public grpc::ServerWriteReactor<IsActiveResponse> {
 public:
  ActiveStream(ExternalScalerService* service, std::shared_ptr<engine::TrackedObject> object)
      : service_(service), object_(std::move(object)) {
    service_->metrics_->AddStreamClients(1);
    subscription_ = object_->Subscribe([this] { PushActive(); });
    // On open: send `true` at once if active now, otherwise nothing (keda-contract.md §8).
    auto ev = object_->Latest();
    if (ev->status.ok() && ev->active) PushActive();
  }

  void PushActive() {
    {
      std::lock_guard lock(mu_);
      if (done_ || finishing_) return;
      if (writing_) {
        pending_ = true;
        return;
      }
      writing_ = true;
    }
    Write();
  }

  /// Ends the stream with `status` once any write in flight has completed.
  void End(const grpc::Status& status) {
    {
      std::lock_guard lock(mu_);
      if (finishing_ || done_) return;
      finishing_ = true;
      if (writing_) {
        final_status_ = status;
        finish_after_write_ = true;
        return;
      }
    }
    Finish(status);
  }

  void OnWriteDone(bool ok) override {
    bool again = false, finish = false;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (finish_after_write_) {
        finish = true;
      } else if (ok && pending_) {
        pending_ = false;
        writing_ = again = true;
      }
    }
    if (finish) Finish(final_status_);
    else if (again) Write();
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    object_->Unsubscribe(subscription_);  // after this no PushActive() can start
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    service_->RemoveStream(this);
    service_->metrics_->AddStreamClients(-1);
    delete this;
  }

 private:
  void Write() {
    msg_.set_result(true);
    service_->metrics_->RecordStreamPush();
    StartWrite(&msg_);
  }

  ExternalScalerService* service_;
  std::shared_ptr<engine::TrackedObject> object_;
  uint64_t subscription_ = 0;
  IsActiveResponse msg_;
  std::mutex mu_;
  bool writing_ = false, pending_ = false, finishing_ = false, finish_after_write_ = false, done_ = false;
  grpc::Status final_status_;
};

/// Runs callbacks after a delay on one thread (deadlines of deferred answers).
class ExternalScalerService::DelayedCalls {
 public:
  DelayedCalls() : thread_([this] { Run(); }) {}
  ~DelayedCalls() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void After(std::chrono::milliseconds delay, std::function<void()> fn) {
    std::lock_guard lock(mu_);
    calls_.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
    cv_.notify_all();
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
                                             const Clock* clock)
    : engine_(engine), metrics_(metrics), clock_(clock), timers_(std::make_unique<DelayedCalls>()) {}

ExternalScalerService::~ExternalScalerService() = default;

bool ExternalScalerService::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  while (inflight_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

grpc::ServerUnaryReactor* ExternalScalerService::Finish(grpc::CallbackServerContext* ctx, const char* method,
                                                        TimePoint start, const grpc::Status& status) {
  metrics_->RecordGrpc(method, GrpcCodeName(status.error_code()), ToSeconds(clock_->Now() - start));
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  inflight_.fetch_sub(1);
  return reactor;
}

grpc::ServerUnaryReactor* ExternalScalerService::GetMetricSpec(grpc::CallbackServerContext* ctx,
                                                               const externalscaler::ScaledObjectRef* req,
                                                               externalscaler::GetMetricSpecResponse* resp) {
  inflight_.fetch_add(1);
  TimePoint start = clock_->Now();
  // Configuration only: never depends on a scrape (keda-contract.md §0.8).
  auto obj = engine_->Resolve(req->namespace_(), req->name(), ToMetadata(*req));
  if (!obj.ok()) return Finish(ctx, "GetMetricSpec", start, ToGrpcStatus(obj.status()));
  const auto& spec = (*obj)->spec();
  auto* ms = resp->add_metricspecs();
  ms->set_metricname(spec.metric_name);
  ms->set_targetsizefloat(spec.target_size);
  ms->set_targetsize(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(spec.target_size))));
  return Finish(ctx, "GetMetricSpec", start, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ExternalScalerService::GetMetrics(grpc::CallbackServerContext* ctx,
                                                            const externalscaler::GetMetricsRequest* req,
                                                            externalscaler::GetMetricsResponse* resp) {
  inflight_.fetch_add(1);
  TimePoint start = clock_->Now();
  const auto& ref = req->scaledobjectref();
  auto obj = engine_->Resolve(ref.namespace_(), ref.name(), ToMetadata(ref));
  if (!obj.ok()) return Finish(ctx, "GetMetrics", start, ToGrpcStatus(obj.status()));
  const auto& spec = (*obj)->spec();
  if (!MetricNameMatches(req->metricname(), spec.metric_name)) {
    return Finish(ctx, "GetMetrics", start,
                  {grpc::StatusCode::NOT_FOUND, spec.key.ToString() + ": unknown metric \"" + req->metricname() +
                                                    "\"; this trigger reports \"" + spec.metric_name + "\""});
  }
  auto answer = [req, resp](const engine::Evaluation& ev) {
    if (!ev.status.ok()) return ToGrpcStatus(ev.status);
    auto* mv = resp->add_metricvalues();
    mv->set_metricname(req->metricname());
    mv->set_metricvaluefloat(ev.value);
    mv->set_metricvalue(static_cast<int64_t>(std::ceil(ev.value)));
    return grpc::Status::OK;
  };
  return AnswerFromMemory(ctx, "GetMetrics", start, *obj, answer);
}

grpc::ServerUnaryReactor* ExternalScalerService::IsActive(grpc::CallbackServerContext* ctx,
                                                          const externalscaler::ScaledObjectRef* req,
                                                          externalscaler::IsActiveResponse* resp) {
  inflight_.fetch_add(1);
  TimePoint start = clock_->Now();
  auto obj = engine_->Resolve(req->namespace_(), req->name(), ToMetadata(*req));
  if (!obj.ok()) return Finish(ctx, "IsActive", start, ToGrpcStatus(obj.status()));
  auto answer = [resp](const engine::Evaluation& ev) {
    if (!ev.status.ok()) return ToGrpcStatus(ev.status);
    resp->set_result(ev.active);
    return grpc::Status::OK;
  };
  return AnswerFromMemory(ctx, "IsActive", start, *obj, answer);
}

grpc::ServerUnaryReactor* ExternalScalerService::AnswerFromMemory(
    grpc::CallbackServerContext* ctx, const char* method, TimePoint start,
    const std::shared_ptr<engine::TrackedObject>& obj,
    std::function<grpc::Status(const engine::Evaluation&)> answer) {
  auto ev = obj->Latest();
  if (!ev->pending) return Finish(ctx, method, start, answer(*ev));
  // KEDA calls GetMetrics right after the GetMetricSpec that started tracking: rather than
  // failing that first poll, answer when the first collection cycle is published.
  // The wait is bounded: a hung pod must not hold a call whose client set no deadline (KEDA's
  // polling loop sets none), so after kFirstAnswerWait it is UNAVAILABLE and KEDA asks again.
  auto* reactor = ctx->DefaultReactor();
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto finish = [this, reactor, method, start, obj, done, answer = std::move(answer)](bool timed_out) {
    if (done->exchange(true)) return;  // the other path already answered
    grpc::Status status =
        timed_out ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 obj->spec().key.ToString() + ": the first collection is still running after " +
                                     std::to_string(kFirstAnswerWait.count()) + "ms (a pod is slow to answer); "
                                     "the next call will have data")
                  : answer(*obj->Latest());
    metrics_->RecordGrpc(method, GrpcCodeName(status.error_code()), ToSeconds(clock_->Now() - start));
    reactor->Finish(status);
    inflight_.fetch_sub(1);
  };
  timers_->After(kFirstAnswerWait, [finish] { finish(true); });
  obj->OnFirstCycle([finish] { finish(false); });
  return reactor;
}

grpc::ServerWriteReactor<IsActiveResponse>* ExternalScalerService::StreamIsActive(
    grpc::CallbackServerContext* /*ctx*/, const externalscaler::ScaledObjectRef* req) {
  auto obj = engine_->Resolve(req->namespace_(), req->name(), ToMetadata(*req));
  if (!obj.ok()) {
    class Refused final : public grpc::ServerWriteReactor<IsActiveResponse> {
     public:
      explicit Refused(const grpc::Status& s) { Finish(s); }
      void OnDone() override { delete this; }
    };
    metrics_->RecordGrpc("StreamIsActive", GrpcCodeName(ToGrpcStatus(obj.status()).error_code()), 0);
    return new Refused(ToGrpcStatus(obj.status()));
  }
  std::lock_guard lock(mu_);
  if (shutting_down_) {
    class Closing final : public grpc::ServerWriteReactor<IsActiveResponse> {
     public:
      Closing() { Finish(grpc::Status::OK); }
      void OnDone() override { delete this; }
    };
    return new Closing();
  }
  auto* stream = new ActiveStream(this, *obj);
  streams_.insert(stream);
  return stream;
}

void ExternalScalerService::RemoveStream(ActiveStream* s) {
  std::lock_guard lock(mu_);
  streams_.erase(s);
}

void ExternalScalerService::FinishAllStreams() {
  std::set<ActiveStream*> streams;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    streams = streams_;
  }
  // A stream may end concurrently; End() on a finished stream is a no-op, and OnDone
  // (which deletes it) removes it under mu_ only after Finish completes, so hold mu_
  // while calling End to keep the pointers alive.
  std::lock_guard lock(mu_);
  for (ActiveStream* s : streams_) s->End(grpc::Status::OK);
  telemetry::Logger("service")->info("finished {} StreamIsActive stream(s) with status OK", streams.size());
}

}  // namespace nimscaler::service
