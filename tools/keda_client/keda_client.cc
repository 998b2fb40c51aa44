// Exports keda::KedaClient and keda::Ref().
#include "tools/keda_client/keda_client.h"

namespace nimscaler::keda {
namespace {

void SetDeadline(grpc::ClientContext* ctx, std::chrono::milliseconds deadline) {
  ctx->set_deadline(std::chrono::system_clock::now() + deadline);
}

}  // namespace

externalscaler::ScaledObjectRef Ref(const std::string& ns, const std::string& name, const Metadata& metadata) {
  externalscaler::ScaledObjectRef r;
  r.set_namespace_(ns);
  r.set_name(name);
  for (const auto& [k, v] : metadata) (*r.mutable_scalermetadata())[k] = v;
  return r;
}

KedaClient::KedaClient(const std::string& address)
    : stub_(externalscaler::ExternalScaler::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
}

KedaClient::~KedaClient() { CloseStream(); }

grpc::Status KedaClient::GetMetricSpec(const externalscaler::ScaledObjectRef& ref,
                                       externalscaler::GetMetricSpecResponse* out, std::chrono::milliseconds deadline) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  return stub_->GetMetricSpec(&ctx, ref, out);
}

grpc::Status KedaClient::GetMetrics(const externalscaler::ScaledObjectRef& ref, const std::string& metric_name,
                                    double* value, std::chrono::milliseconds deadline) {
  externalscaler::GetMetricsRequest req;
  *req.mutable_scaledobjectref() = ref;
  req.set_metricname(metric_name);
  externalscaler::GetMetricsResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status s = stub_->GetMetrics(&ctx, req, &resp);
  if (!s.ok()) return s;
  if (resp.metricvalues_size() == 0) return grpc::Status(grpc::StatusCode::INTERNAL, "no metric value in the answer");
  const auto& mv = resp.metricvalues(0);
  *value = mv.metricvaluefloat() > 0 ? mv.metricvaluefloat() : static_cast<double>(mv.metricvalue());
  return s;
}

grpc::Status KedaClient::IsActive(const externalscaler::ScaledObjectRef& ref, bool* active,
                                  std::chrono::milliseconds deadline) {
  externalscaler::IsActiveResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status s = stub_->IsActive(&ctx, ref, &resp);
  if (s.ok()) *active = resp.result();
  return s;
}

KedaClient::Poll KedaClient::Query(const externalscaler::ScaledObjectRef& ref, std::chrono::milliseconds deadline) {
  Poll p;
  externalscaler::GetMetricSpecResponse spec;
  grpc::Status s = GetMetricSpec(ref, &spec, deadline);
  if (!s.ok() || spec.metricspecs_size() == 0) {
    p.error = "GetMetricSpec: " + s.error_message();
    return p;
  }
  if (s = GetMetrics(ref, spec.metricspecs(0).metricname(), &p.value, deadline); !s.ok()) {
    p.error = "GetMetrics: " + s.error_message();
    return p;
  }
  if (s = IsActive(ref, &p.active, deadline); !s.ok()) {
    p.error = "IsActive: " + s.error_message();
    return p;
  }
  p.ok = true;
  return p;
}

void KedaClient::OpenStream(const externalscaler::ScaledObjectRef& ref) {
  CloseStream();
  std::lock_guard<std::mutex> g(mu_);
  stream_ctx_ = std::make_unique<grpc::ClientContext>();
  grpc::ClientContext* ctx = stream_ctx_.get();
  stream_thread_ = std::thread([this, ref, ctx] {
    auto reader = stub_->StreamIsActive(ctx, ref);
    externalscaler::IsActiveResponse m;
    while (reader->Read(&m)) {
      std::lock_guard<std::mutex> g2(mu_);
      pushes_.push_back(m.result());
    }
    reader->Finish();
  });
}

void KedaClient::CloseStream() {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::thread t;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stream_ctx_) stream_ctx_->TryCancel();
    t = std::move(stream_thread_);
    ctx = std::move(stream_ctx_);
  }
  if (t.joinable()) t.join();
}

std::vector<bool> KedaClient::TakePushes() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<bool> out;
  out.swap(pushes_);
  return out;
}

}  // namespace nimscaler::keda
