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

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <thread>

namespace nimscaler::service {

/// What the completion queue hands back: the event of one operation.
class CqTag {
 public:
  virtual ~CqTag() = default;
  virtual void Proceed(bool ok) = 0;
};

class StreamCall;

/// The completion queue every call of the gRPC port arrives on, and the thread that serves it.
/// Attach(builder) -> BuildAndStart() -> services open their slots -> Start() -> ... ->
/// (shutdown) services end their streams -> CancelStreams() -> server->Shutdown() -> Stop().
///
/// No gRPC operation may be started on a completion queue once its Shutdown() was called
/// (gRPC asserts). So every operation of the calls below starts through the loop's gate
/// (Gate): Stop() closes the gate, waiting out any start in progress, and only then shuts the
/// queue down. An operation refused by the closed gate is simply not started; the calls were
/// all cancelled by server->Shutdown() before, and the operations already started still
/// complete and are drained by the loop thread, which exits once the queue is empty.
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

  /// Held while one operation is started; false (and nothing may be started) once Stop() began.
  /// Never nest two Gates on one thread.
  class Gate {
   public:
    explicit Gate(CallLoop& loop) : lock_(loop.gate_mu_), open_(!loop.gate_closed_) {}
    explicit operator bool() const { return open_; }

   private:
    std::shared_lock<std::shared_mutex> lock_;
    bool open_;
  };

  /// Streams whose call has arrived and is not closed yet (registered by PushStream).
  void AddStream(StreamCall* s) {
    std::lock_guard lock(streams_mu_);
    streams_.insert(s);
  }
  void RemoveStream(StreamCall* s) {
    std::lock_guard lock(streams_mu_);
    streams_.erase(s);
  }
  size_t open_streams() const {
    std::lock_guard lock(streams_mu_);
    return streams_.size();
  }

  /// Shutting down: waits until every open stream has closed, or `graceful` passes; then
  /// cancels the rest (ServerContext::TryCancel: a write blocked by a client that stopped
  /// reading fails at once) and waits for them to close, up to `deadline`. Their pending
  /// operations are thereby drained while the queue still runs. Returns how many were cancelled.
  size_t CancelStreams(std::chrono::steady_clock::time_point graceful, std::chrono::steady_clock::time_point deadline);

  /// Call after grpc::Server::Shutdown() and after every deferred answer was given.
  void Stop() {
    if (!cq_ || stopped_) return;
    stopped_ = true;
    {
      std::unique_lock lock(gate_mu_);  // waits for any operation being started
      gate_closed_ = true;
    }
    cq_->Shutdown();
    if (thread_.joinable())
      thread_.join();
    else
      Drain();  // never started: release the slots that were opened
  }

 private:
  bool WaitStreams(std::chrono::steady_clock::time_point until) const {
    while (open_streams() > 0) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  void Drain() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
  }

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::thread thread_;
  bool stopped_ = false;
  std::shared_mutex gate_mu_;
  bool gate_closed_ = false;       // guarded by gate_mu_
  mutable std::mutex streams_mu_;  // guards streams_; a stream leaves it before it is deleted
  std::set<StreamCall*> streams_;
};

/// What CallLoop needs of an open stream.
class StreamCall {
 public:
  virtual ~StreamCall() = default;
  /// Cancels the call (any thread; the stream then closes through its usual events).
  virtual void Cancel() = 0;
};

inline size_t CallLoop::CancelStreams(std::chrono::steady_clock::time_point graceful,
                                      std::chrono::steady_clock::time_point deadline) {
  if (WaitStreams(graceful)) return 0;
  size_t cancelled = 0;
  {
    std::lock_guard lock(streams_mu_);  // no stream is deleted meanwhile (RemoveStream waits)
    for (StreamCall* s : streams_) s->Cancel();
    cancelled = streams_.size();
  }
  WaitStreams(deadline);
  return cancelled;
}

/// One unary call of `Service`. Owns itself: opened as a slot gRPC fills with the next call of
/// its method, handed to the handler, deleted once the answer is written (or when the server
/// shuts down before a call came).
template <class Service, class Request, class Response>
class UnaryCall final : public CqTag {
 public:
  using Requester = void (Service::*)(grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
                                      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  using Handler = void (Service::*)(UnaryCall*);

  static void Open(Service* service, CallLoop* loop, Requester requester, Handler handler) {
    auto* call = new UnaryCall(service, loop, requester, handler);
    {
      CallLoop::Gate gate(*loop);
      if (gate) {
        (service->*requester)(&call->ctx_, &call->request, &call->writer_, loop->cq(), loop->cq(), call);
        return;
      }
    }
    delete call;  // shutting down: no new slot
  }

  void Proceed(bool ok) override {
    if (answered_ || !ok) {  // the answer is written, or the server shut down before a call came
      delete this;
      return;
    }
    Open(service_, loop_, requester_, handler_);  // a slot for the next caller first
    (service_->*handler_)(this);
  }

  /// Exactly once per call, from any thread. `response` must be filled before.
  void Answer(const grpc::Status& status) {
    {
      CallLoop::Gate gate(*loop_);
      if (gate) {
        answered_ = true;  // read by Proceed only after the queue returns the Finish event below
        if (status.ok())
          writer_.Finish(response, status, this);
        else
          writer_.FinishWithError(status, this);
        return;
      }
    }
    delete this;  // the queue is shut down (the call was cancelled by the server's shutdown)
  }

  grpc::ServerContext& context() { return ctx_; }

  Request request;
  Response response;

 private:
  UnaryCall(Service* service, CallLoop* loop, Requester requester, Handler handler)
      : service_(service), loop_(loop), requester_(requester), handler_(handler), writer_(&ctx_) {}

  Service* service_;
  CallLoop* loop_;
  Requester requester_;
  Handler handler_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncResponseWriter<Response> writer_;
  bool answered_ = false;
};

/// One server-streaming call. Owns itself. Subclasses implement Opened() (the call arrived:
/// subscribe, push a first message, or End() at once) and Closed() (the call is over, called
/// once, with no lock held: unsubscribe); the object is deleted right after Closed(). While open it is registered with
/// the loop, which can cancel it at shutdown.
template <class Request, class Response>
class PushStream : public StreamCall {
 public:
  using Requester = std::function<void(grpc::ServerContext*, Request*, grpc::ServerAsyncWriter<Response>*,
                                       grpc::ServerCompletionQueue*, void*)>;

  /// Opens the slot (or deletes the object when the loop is shutting down). `reopen` opens the
  /// next one once this call has arrived.
  void Open(CallLoop* loop, const Requester& requester, std::function<void()> reopen) {
    loop_ = loop;
    reopen_ = std::move(reopen);
    {
      CallLoop::Gate gate(*loop_);
      if (gate) {
        ctx_.AsyncNotifyWhenDone(&done_);  // fires once, only for a call that arrived
        requester(&ctx_, &request_, &writer_, loop_->cq(), &arrived_);
        return;
      }
    }
    delete this;
  }

  /// Sends `msg`, or replaces the one waiting behind a write in flight. Any thread.
  void Push(const Response& msg) {
    CallLoop::Gate gate(*loop_);
    if (!gate) return;  // shutting down: the call is cancelled and closes through its events
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
    CallLoop::Gate gate(*loop_);
    if (!gate) return;
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

  void Cancel() override { ctx_.TryCancel(); }

 protected:
  virtual void Opened() = 0;
  virtual void Closed() = 0;
  const Request& request() const { return request_; }
  grpc::ServerContext& context() { return ctx_; }

  /// Keeps the stream from closing while Opened()'s work continues on another thread: Hold()
  /// before handing off, Release() when that work is done (any thread but a subscriber
  /// callback: the stream may close, and Closed() run, inside Release()).
  void Hold() {
    std::lock_guard lock(mu_);
    ++ops_;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      --ops_;
    }
    MaybeClose();
  }

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
    loop_->AddStream(this);
    Opened();
  }

  void OnWrote(bool ok) {
    {
      CallLoop::Gate gate(*loop_);
      bool finish = false, again = false;
      {
        std::lock_guard lock(mu_);
        writing_ = false;
        --ops_;
        if (ok && pending_ && gate) {  // a message pushed before End() is still sent
          out_ = *pending_;
          pending_.reset();
          writing_ = again = true;
          ++ops_;
        } else if (ending_ && gate) {
          finish = true;
          ++ops_;
        }
      }
      if (finish) return writer_.Finish(final_, &finished_);
      if (again) return writer_.Write(out_, &wrote_);
    }
    MaybeClose();
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
    loop_->RemoveStream(this);  // after this the loop no longer cancels it
    Closed();
    delete this;
  }

  CallLoop* loop_ = nullptr;
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
