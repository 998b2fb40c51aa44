// Exports PeerClient: forwarded unary calls and relayed streams over gRPC's callback client.
#include "scaler/service/peer_client.h"

namespace nimscaler::service {

PeerClient::PeerClient(std::shared_ptr<grpc::ChannelCredentials> credentials, std::string authority)
    : credentials_(std::move(credentials)), authority_(std::move(authority)) {}

PeerClient::~PeerClient() = default;

externalscaler::ExternalScaler::Stub* PeerClient::StubFor(const std::string& peer) {
  std::lock_guard lock(mu_);
  auto& stub = stubs_[peer];
  if (stub == nullptr) {
    grpc::ChannelArguments args;
    if (!authority_.empty()) args.SetSslTargetNameOverride(authority_);
    // Reconnect quickly after a peer restarts: the default backoff reaches minutes.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    stub = externalscaler::ExternalScaler::NewStub(grpc::CreateCustomChannel(peer, credentials_, args));
  }
  return stub.get();
}

namespace {

bool Answered(const grpc::ClientContext& context) {
  return context.GetServerTrailingMetadata().count(kAnsweredTrailer) > 0;
}

template <class Request, class Response>
struct UnaryForward {
  grpc::ClientContext context;
  Request request;
  Response response;
  PeerClient::Done<Response> done;
};

template <class Request, class Response>
std::shared_ptr<UnaryForward<Request, Response>> NewForward(const Request& request, std::chrono::milliseconds deadline,
                                                           const char* mark, PeerClient::Done<Response> done) {
  auto call = std::make_shared<UnaryForward<Request, Response>>();
  call->request = request;
  call->done = std::move(done);
  call->context.set_deadline(std::chrono::system_clock::now() + deadline);
  call->context.AddMetadata(kForwardedHeader, mark);
  return call;
}

class StreamRelay final : public grpc::ClientReadReactor<externalscaler::IsActiveResponse>,
                          public PeerClient::Relay {
 public:
  StreamRelay(std::function<void()> on_true, std::function<void(const grpc::Status&)> ended)
      : on_true_(std::move(on_true)), ended_(std::move(ended)) {}

  void Start(externalscaler::ExternalScaler::Stub* stub, const externalscaler::ScaledObjectRef& request,
             std::shared_ptr<StreamRelay> self) {
    self_ = std::move(self);  // kept alive until OnDone
    request_ = request;
    context_.AddMetadata(kForwardedHeader, kForwardedCall);
    stub->async()->StreamIsActive(&context_, &request_, this);
    StartRead(&message_);
    StartCall();
  }

  void Cancel() override { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream is over; OnDone follows
    if (message_.result()) on_true_();
    StartRead(&message_);
  }

  void OnDone(const grpc::Status& status) override {
    ended_(status);
    self_.reset();  // may destroy this
  }

 private:
  grpc::ClientContext context_;
  externalscaler::ScaledObjectRef request_;
  externalscaler::IsActiveResponse message_;
  std::function<void()> on_true_;
  std::function<void(const grpc::Status&)> ended_;
  std::shared_ptr<StreamRelay> self_;
};

}  // namespace

void PeerClient::GetMetrics(const std::string& peer, const externalscaler::GetMetricsRequest& request,
                            std::chrono::milliseconds deadline, const char* mark,
                            Done<externalscaler::GetMetricsResponse> done) {
  auto call = NewForward(request, deadline, mark, std::move(done));
  StubFor(peer)->async()->GetMetrics(&call->context, &call->request, &call->response,
                                     [call](grpc::Status status) { call->done(status, call->response, Answered(call->context)); });
}

void PeerClient::IsActive(const std::string& peer, const externalscaler::ScaledObjectRef& request,
                          std::chrono::milliseconds deadline, const char* mark,
                          Done<externalscaler::IsActiveResponse> done) {
  auto call = NewForward(request, deadline, mark, std::move(done));
  StubFor(peer)->async()->IsActive(&call->context, &call->request, &call->response,
                                   [call](grpc::Status status) { call->done(status, call->response, Answered(call->context)); });
}

void PeerClient::GetMetricSpec(const std::string& peer, const externalscaler::ScaledObjectRef& request,
                               std::chrono::milliseconds deadline, const char* mark,
                               Done<externalscaler::GetMetricSpecResponse> done) {
  auto call = NewForward(request, deadline, mark, std::move(done));
  StubFor(peer)->async()->GetMetricSpec(&call->context, &call->request, &call->response,
                                        [call](grpc::Status status) { call->done(status, call->response, Answered(call->context)); });
}

std::shared_ptr<PeerClient::Relay> PeerClient::StreamIsActive(const std::string& peer,
                                                              const externalscaler::ScaledObjectRef& request,
                                                              std::function<void()> on_true,
                                                              std::function<void(const grpc::Status&)> ended) {
  auto relay = std::make_shared<StreamRelay>(std::move(on_true), std::move(ended));
  relay->Start(StubFor(peer), request, relay);
  return relay;
}

}  // namespace nimscaler::service
