// Exports HealthService.
#include "scaler/service/health_service.h"

#include "scaler/service/request_limits.h"

namespace nimscaler::service {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

/// One Watch call: the name's status at once, then each change.
class HealthWatch final : public PushStream<HealthCheckRequest, HealthCheckResponse> {
 public:
  explicit HealthWatch(HealthService* service) : service_(service) {}

  const std::string& name() const { return request().service(); }
  void Send(HealthService::ServingStatus status) {
    HealthCheckResponse msg;
    msg.set_status(status);
    Push(msg);
  }

 private:
  void Opened() override {
    registered_ = true;
    service_->AddWatch(this);
  }
  void Closed() override {
    if (registered_) service_->RemoveWatch(this);
  }

  HealthService* service_;
  bool registered_ = false;
};

void HealthService::Start(CallLoop* loop) {
  loop_ = loop;
  for (int i = 0; i < 4; ++i) {
    CheckCall::Open(this, loop, &HealthService::RequestCheck, &HealthService::HandleCheck);
    OpenWatch();
  }
}

void HealthService::OpenWatch() {
  (new HealthWatch(this))
      ->Open(
          loop_,
          [this](auto* ctx, auto* req, auto* writer, auto* cq, void* tag) {
            RequestWatch(ctx, req, writer, cq, cq, tag);
          },
          [this] { OpenWatch(); });
}

void HealthService::HandleCheck(CheckCall* call) {
  std::lock_guard lock(mu_);
  auto it = statuses_.find(call->request.service());
  if (it == statuses_.end()) {
    call->Answer(
        {grpc::StatusCode::NOT_FOUND, "unknown service \"" + CapErrorText(call->request.service(), 256) + "\""});
    return;
  }
  call->response.set_status(it->second);
  call->Answer(grpc::Status::OK);
}

void HealthService::Set(const std::string& service, bool serving) {
  ServingStatus status = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  std::lock_guard lock(mu_);
  if (shut_down_) return;
  auto [it, added] = statuses_.try_emplace(service, status);
  if (!added && it->second == status) return;
  it->second = status;
  for (HealthWatch* w : watches_) {
    if (w->name() == service) w->Send(status);
  }
}

void HealthService::Shutdown() {
  // Hold mu_ throughout: a watch is deleted only after RemoveWatch (under mu_).
  std::lock_guard lock(mu_);
  shut_down_ = true;
  for (auto& [name, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
  for (HealthWatch* w : watches_) {
    w->Send(HealthCheckResponse::NOT_SERVING);
    w->End(grpc::Status::OK);
  }
}

void HealthService::AddWatch(HealthWatch* w) {
  // The first message is sent under mu_, so no change set meanwhile can overtake it.
  std::lock_guard lock(mu_);
  if (shut_down_) {
    w->Send(HealthCheckResponse::NOT_SERVING);
    w->End(grpc::Status::OK);
    return;
  }
  watches_.insert(w);
  auto it = statuses_.find(w->name());
  w->Send(it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second);
}

void HealthService::RemoveWatch(HealthWatch* w) {
  std::lock_guard lock(mu_);
  watches_.erase(w);
}

}  // namespace nimscaler::service
