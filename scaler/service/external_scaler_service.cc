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

/// One StreamIsActive call: subscribed to its object's inactive->active edges; every message
/// is `true` (keda-contract.md §8: `false` is never sent).
class ActiveStream final : public PushStream<externalscaler::ScaledObjectRef, IsActiveResponse> {
 public:
  explicit ActiveStream(ExternalScalerService* service) : service_(service) { active_.set_result(true); }

 private:
  void Opened() override {
    const auto& req = request();
    auto obj = service_->engine_->Resolve(req.namespace_(), req.name(), ToMetadata(req));
    if (!obj.ok()) {
      grpc::Status status = ToGrpcStatus(obj.status());
      service_->metrics_->RecordGrpc("StreamIsActive", GrpcCodeName(status.error_code()), 0);
      End(status);
      return;
    }
    if (!service_->AddStream(this)) {  // shutting down: KEDA reconnects to another replica
      End(grpc::Status::OK);
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
                                             const Clock* clock)
    : engine_(engine), metrics_(metrics), clock_(clock), timers_(std::make_unique<DelayedCalls>()) {}

ExternalScalerService::~ExternalScalerService() { Stop(); }

void ExternalScalerService::Start(grpc::ServerCompletionQueue* cq) {
  cq_ = cq;
  // Calls that find no open slot queue inside gRPC until one is reopened; a few suffice.
  constexpr int kUnarySlots = 16, kStreamSlots = 4;
  for (int i = 0; i < kUnarySlots; ++i) {
    SpecCall::Open(this, cq, &ExternalScalerService::RequestGetMetricSpec, &ExternalScalerService::HandleGetMetricSpec);
    MetricsCall::Open(this, cq, &ExternalScalerService::RequestGetMetrics, &ExternalScalerService::HandleGetMetrics);
    ActiveCall::Open(this, cq, &ExternalScalerService::RequestIsActive, &ExternalScalerService::HandleIsActive);
  }
  for (int i = 0; i < kStreamSlots; ++i) OpenStreamIsActive();
  OpenStreamMetricSpec();
}

void ExternalScalerService::OpenStreamIsActive() {
  (new ActiveStream(this))
      ->Open(
          cq_,
          [this](auto* ctx, auto* req, auto* writer, auto* cq, void* tag) {
            RequestStreamIsActive(ctx, req, writer, cq, cq, tag);
          },
          [this] { OpenStreamIsActive(); });
}

void ExternalScalerService::OpenStreamMetricSpec() {
  (new MetricSpecStream())
      ->Open(
          cq_,
          [this](auto* ctx, auto* req, auto* writer, auto* cq, void* tag) {
            RequestStreamMetricSpec(ctx, req, writer, cq, cq, tag);
          },
          [this] { OpenStreamMetricSpec(); });
}

void ExternalScalerService::Stop() { timers_->Stop(); }

bool ExternalScalerService::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  while (inflight_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

template <class Call>
void ExternalScalerService::Answer(Call* call, const char* method, TimePoint start, const grpc::Status& status) {
  metrics_->RecordGrpc(method, GrpcCodeName(status.error_code()), ToSeconds(clock_->Now() - start));
  call->Answer(status);  // `call` may be gone after this
  inflight_.fetch_sub(1);
}

void ExternalScalerService::HandleGetMetricSpec(SpecCall* call) {
  inflight_.fetch_add(1);
  TimePoint start = clock_->Now();
  const auto& req = call->request;
  // Configuration only: never depends on a scrape (keda-contract.md §0.8).
  auto obj = engine_->Resolve(req.namespace_(), req.name(), ToMetadata(req));
  if (!obj.ok()) return Answer(call, "GetMetricSpec", start, ToGrpcStatus(obj.status()));
  const auto& spec = (*obj)->spec();
  auto* ms = call->response.add_metricspecs();
  ms->set_metricname(spec.metric_name);
  ms->set_targetsizefloat(spec.target_size);
  ms->set_targetsize(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(spec.target_size))));
  Answer(call, "GetMetricSpec", start, grpc::Status::OK);
}

void ExternalScalerService::HandleGetMetrics(MetricsCall* call) {
  inflight_.fetch_add(1);
  TimePoint start = clock_->Now();
  const auto& req = call->request;
  const auto& ref = req.scaledobjectref();
  auto obj = engine_->Resolve(ref.namespace_(), ref.name(), ToMetadata(ref));
  if (!obj.ok()) return Answer(call, "GetMetrics", start, ToGrpcStatus(obj.status()));
  const auto& spec = (*obj)->spec();
  if (!MetricNameMatches(req.metricname(), spec.metric_name)) {
    return Answer(call, "GetMetrics", start,
                  {grpc::StatusCode::NOT_FOUND, spec.key.ToString() + ": unknown metric \"" + req.metricname() +
                                                    "\"; this trigger reports \"" + spec.metric_name + "\""});
  }
  auto answer = [call](const engine::Evaluation& ev) {
    if (!ev.status.ok()) return ToGrpcStatus(ev.status);
    auto* mv = call->response.add_metricvalues();
    mv->set_metricname(call->request.metricname());
    mv->set_metricvaluefloat(ev.value);
    mv->set_metricvalue(static_cast<int64_t>(std::ceil(ev.value)));
    return grpc::Status::OK;
  };
  AnswerFromMemory(call, "GetMetrics", start, *obj, answer);
}

void ExternalScalerService::HandleIsActive(ActiveCall* call) {
  inflight_.fetch_add(1);
  TimePoint start = clock_->Now();
  const auto& req = call->request;
  auto obj = engine_->Resolve(req.namespace_(), req.name(), ToMetadata(req));
  if (!obj.ok()) return Answer(call, "IsActive", start, ToGrpcStatus(obj.status()));
  auto answer = [call](const engine::Evaluation& ev) {
    if (!ev.status.ok()) return ToGrpcStatus(ev.status);
    call->response.set_result(ev.active);
    return grpc::Status::OK;
  };
  AnswerFromMemory(call, "IsActive", start, *obj, answer);
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

bool ExternalScalerService::AddStream(ActiveStream* s) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return false;
  streams_.insert(s);
  return true;
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
