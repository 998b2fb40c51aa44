// Exports PeerClient: forwarded unary calls on the gRPC port's completion queue, relayed
// streams over gRPC's callback client.
#include "scaler/service/peer_client.h"

namespace nimscaler::service {

PeerClient::PeerClient(std::shared_ptr<grpc::ChannelCredentials> credentials, std::string authority, CallLoop* loop)
    : credentials_(std::move(credentials)), authority_(std::move(authority)), loop_(loop) {}

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

/// A unary call whose events arrive on the loop's queue. Owns itself from Start() until its
/// answer (or failure) has been handed to `done`.
class PeerClient::UnaryBase : public CqTag {
 public:
  grpc::ClientContext context;
};

template <class Response>
class PeerClient::Unary final : public PeerClient::UnaryBase {
 public:
  /// `prepare(stub, context, cq)`: the stub's PrepareAsync<Method> (it serializes the request
  /// at once, so the request is not kept). When the call cannot start (CancelAll() ran, or
  /// the loop is stopping), `done` runs here with a failure.
  template <class Prepare>
  static void Start(PeerClient* client, const std::string& peer, std::chrono::milliseconds deadline, const char* mark,
                    Done<Response> done, Prepare prepare) {
    auto* call = new Unary(client, std::move(done));
    call->context.set_deadline(std::chrono::system_clock::now() + deadline);
    call->context.AddMetadata(kForwardedHeader, mark);
    externalscaler::ExternalScaler::Stub* stub = client->StubFor(peer);
    if (client->Begin(call)) {
      CallLoop::Gate gate(*client->loop_);
      if (gate) {
        call->reader_ = prepare(stub, &call->context, client->loop_->cq());
        call->reader_->StartCall();
        call->reader_->Finish(&call->response_, &call->status_, call);
        return;
      }
      client->End(call);
    }
    call->done_(grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down: call to peer " + peer + " not sent"),
                call->response_, false);
    delete call;
  }

  void Proceed(bool /*ok: always true for a unary call's Finish*/) override {
    client_->End(this);
    bool answered = context.GetServerTrailingMetadata().count(kAnsweredTrailer) > 0;
    done_(status_, response_, answered);
    delete this;
  }

 private:
  Unary(PeerClient* client, Done<Response> done) : client_(client), done_(std::move(done)) {}

  PeerClient* client_;
  Done<Response> done_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader_;
  Response response_;
  grpc::Status status_;
};

bool PeerClient::Begin(UnaryBase* call) {
  std::lock_guard lock(mu_);
  if (cancelled_) return false;
  inflight_.insert(call);
  return true;
}

void PeerClient::End(UnaryBase* call) {
  std::lock_guard lock(mu_);
  inflight_.erase(call);
}

void PeerClient::CancelAll() {
  std::lock_guard lock(mu_);  // a call leaves inflight_ (under mu_) before it is deleted
  cancelled_ = true;
  for (UnaryBase* call : inflight_) call->context.TryCancel();  // before its start too: applied then
}

namespace {

class StreamRelay final : public grpc::ClientReadReactor<externalscaler::IsActiveResponse>, public PeerClient::Relay {
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
  Unary<externalscaler::GetMetricsResponse>::Start(
      this, peer, deadline, mark, std::move(done),
      [&request](auto* stub, auto* context, auto* cq) { return stub->PrepareAsyncGetMetrics(context, request, cq); });
}

void PeerClient::IsActive(const std::string& peer, const externalscaler::ScaledObjectRef& request,
                          std::chrono::milliseconds deadline, const char* mark,
                          Done<externalscaler::IsActiveResponse> done) {
  Unary<externalscaler::IsActiveResponse>::Start(
      this, peer, deadline, mark, std::move(done),
      [&request](auto* stub, auto* context, auto* cq) { return stub->PrepareAsyncIsActive(context, request, cq); });
}

void PeerClient::GetMetricSpec(const std::string& peer, const externalscaler::ScaledObjectRef& request,
                               std::chrono::milliseconds deadline, const char* mark,
                               Done<externalscaler::GetMetricSpecResponse> done) {
  Unary<externalscaler::GetMetricSpecResponse>::Start(this, peer, deadline, mark, std::move(done),
                                                      [&request](auto* stub, auto* context, auto* cq) {
                                                        return stub->PrepareAsyncGetMetricSpec(context, request, cq);
                                                      });
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
