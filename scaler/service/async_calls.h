#pragma once
// The gRPC port's calls on the async API, served by one thread of our own (CallLoop).
//
// Why not the callback API: in gRPC 1.51 (Debian 12) callback methods are run by a pool of
// "nexting" threads that take turns polling, so nearly every call wakes another thread; with
// callers in the hundreds that hand-off costs more than the answer. Here the thread that
// polls a call also answers and writes it. As long as every service of the server lives on
// this one completion queue, no other thread polls the port (no sync or callback methods, no
// default health service, no reflection).
//
// UnaryCall: one unary call; the handler answers exactly once, at once or later from any thread.
// PushStream: one server-streaming call whose messages are "the state now": at most one write
// in flight, a newer message replaces one not yet written, End() finishes after that write.

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_builder.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace nimscaler::service {

/// What the completion queue hands back: the event of one operation.
class CqTag {
 public:
  virtual ~CqTag() = default;
  virtual void Proceed(bool ok) = 0;
};

/// The completion queue every call of the gRPC port arrives on, and the thread that serves it.
/// Attach(builder) -> BuildAndStart() -> services open their slots -> Start() -> ... ->
/// server->Shutdown() -> Stop().
class CallLoop {
 public:
  CallLoop() = default;
  CallLoop(const CallLoop&) = delete;
  CallLoop& operator=(const CallLoop&) = delete;
  ~CallLoop() { Stop(); }

  void Attach(grpc::ServerBuilder* builder) { cq_ = builder->AddCompletionQueue(); }
  grpc::ServerCompletionQueue* cq() const { return cq_.get(); }

  void Start() {
    thread_ = std::thread([this] { Drain(); });
  }

  /// Call after grpc::Server::Shutdown() and after every deferred answer was given.
  void Stop() {
    if (!cq_ || stopped_) return;
    stopped_ = true;
    cq_->Shutdown();
    if (thread_.joinable()) thread_.join();
    else Drain();  // never started: release the slots that were opened
  }

 private:
  void Drain() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
  }

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::thread thread_;
  bool stopped_ = false;
};

/// One unary call of `Service`. Owns itself: opened as a slot gRPC fills with the next call of
/// its method, handed to the handler, deleted once the answer is written (or when the server
/// shuts down before a call came).
template <class Service, class Request, class Response>
class UnaryCall final : public CqTag {
 public:
  using Requester = void (Service::*)(grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
                                      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  using Handler = void (Service::*)(UnaryCall*);

  static void Open(Service* service, grpc::ServerCompletionQueue* cq, Requester requester, Handler handler) {
    auto* call = new UnaryCall(service, cq, requester, handler);
    (service->*requester)(&call->ctx_, &call->request, &call->writer_, cq, cq, call);
  }

  void Proceed(bool ok) override {
    if (answered_ || !ok) {  // the answer is written, or the server shut down before a call came
      delete this;
      return;
    }
    Open(service_, cq_, requester_, handler_);  // a slot for the next caller first
    (service_->*handler_)(this);
  }

  /// Exactly once per call, from any thread. `response` must be filled before.
  void Answer(const grpc::Status& status) {
    answered_ = true;  // read by Proceed only after the queue returns the Finish event below
    if (status.ok()) writer_.Finish(response, status, this);
    else writer_.FinishWithError(status, this);
  }

  Request request;
  Response response;

 private:
  UnaryCall(Service* service, grpc::ServerCompletionQueue* cq, Requester requester, Handler handler)
      : service_(service), cq_(cq), requester_(requester), handler_(handler), writer_(&ctx_) {}

  Service* service_;
  grpc::ServerCompletionQueue* cq_;
  Requester requester_;
  Handler handler_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncResponseWriter<Response> writer_;
  bool answered_ = false;
};

/// One server-streaming call. Owns itself. Subclasses implement Opened() (the call arrived:
/// subscribe, push a first message, or End() at once) and Closed() (the call is over, called
/// once, with no lock held: unsubscribe); the object is deleted right after Closed().
template <class Request, class Response>
class PushStream {
 public:
  using Requester = std::function<void(grpc::ServerContext*, Request*, grpc::ServerAsyncWriter<Response>*,
                                       grpc::ServerCompletionQueue*, void*)>;

  virtual ~PushStream() = default;

  /// Opens the slot. `reopen` opens the next one once this call has arrived.
  void Open(grpc::ServerCompletionQueue* cq, const Requester& requester, std::function<void()> reopen) {
    reopen_ = std::move(reopen);
    ctx_.AsyncNotifyWhenDone(&done_);  // fires once, only for a call that arrived
    requester(&ctx_, &request_, &writer_, cq, &arrived_);
  }

  /// Sends `msg`, or replaces the one waiting behind a write in flight. Any thread.
  void Push(const Response& msg) {
    {
      std::lock_guard lock(mu_);
      if (ending_ || over_) return;
      if (writing_) {
        pending_ = msg;
        return;
      }
      writing_ = true;
      ++ops_;
      out_ = msg;
    }
    writer_.Write(out_, &wrote_);
  }

  /// Finishes the call with `status` once every message pushed before is written. Any
  /// thread; the first call counts.
  void End(const grpc::Status& status) {
    {
      std::lock_guard lock(mu_);
      if (ending_ || over_) return;
      ending_ = true;
      final_ = status;
      if (writing_) return;  // OnWrote finishes
      ++ops_;
    }
    writer_.Finish(final_, &finished_);
  }

 protected:
  virtual void Opened() = 0;
  virtual void Closed() = 0;
  const Request& request() const { return request_; }
  grpc::ServerContext& context() { return ctx_; }

 private:
  struct Event final : CqTag {
    Event(PushStream* s, void (PushStream::*fn)(bool)) : stream(s), handler(fn) {}
    void Proceed(bool ok) override { (stream->*handler)(ok); }
    PushStream* stream;
    void (PushStream::*handler)(bool);
  };

  void OnArrived(bool ok) {
    if (!ok) {  // the server shut down before a call came; the done event never fires
      delete this;
      return;
    }
    reopen_();
    {
      std::lock_guard lock(mu_);
      ops_ = 1;  // the done event
    }
    Opened();
  }

  void OnWrote(bool ok) {
    bool finish = false, again = false;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      --ops_;
      if (ok && pending_) {  // a message pushed before End() is still sent
        out_ = *pending_;
        pending_.reset();
        writing_ = again = true;
        ++ops_;
      } else if (ending_) {
        finish = true;
        ++ops_;
      }
    }
    if (finish) writer_.Finish(final_, &finished_);
    else if (again) writer_.Write(out_, &wrote_);
    else MaybeClose();
  }

  void OnFinished(bool /*ok*/) {
    {
      std::lock_guard lock(mu_);
      --ops_;
    }
    MaybeClose();
  }

  void OnDone(bool /*ok*/) {  // the call is over: finished, or cancelled by the client
    {
      std::lock_guard lock(mu_);
      over_ = true;
      --ops_;
    }
    MaybeClose();
  }

  void MaybeClose() {
    {
      std::lock_guard lock(mu_);
      if (!over_ || ops_ > 0 || closed_) return;
      closed_ = true;
    }
    Closed();
    delete this;
  }

  Request request_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncWriter<Response> writer_{&ctx_};
  std::function<void()> reopen_;
  Event arrived_{this, &PushStream::OnArrived};
  Event wrote_{this, &PushStream::OnWrote};
  Event finished_{this, &PushStream::OnFinished};
  Event done_{this, &PushStream::OnDone};

  std::mutex mu_;
  int ops_ = 0;  // events still to come: done, plus a write or the finish in flight
  bool writing_ = false, ending_ = false, over_ = false, closed_ = false;
  Response out_;
  std::optional<Response> pending_;
  grpc::Status final_;
};

}  // namespace nimscaler::service
