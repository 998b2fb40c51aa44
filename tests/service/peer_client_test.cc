// PeerClient (scaler/service/peer_client.h) against a real gRPC peer over loopback.
// Issue 12 benchmark (forwarded GetMetrics latency): a forwarded call's answer is read and
// handed on by the loop thread of the replica's own completion queue, not by another thread
// (gRPC's callback client ran it on a "nexting" thread: one more thread to schedule per call).
// Shutdown: CancelAll() ends calls in flight at once, and later calls fail at once, so the
// loop's queue drains without waiting out a deadline.
#include "scaler/service/peer_client.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "scaler/service/async_calls.h"

namespace nimscaler::service {
namespace {

using namespace std::chrono_literals;

// The peer: answers GetMetrics with 4.5 and the "answered" trailer, after waiting while held.
class FakePeer final : public externalscaler::ExternalScaler::Service {
 public:
  grpc::Status GetMetrics(grpc::ServerContext* ctx, const externalscaler::GetMetricsRequest* req,
                          externalscaler::GetMetricsResponse* resp) override {
    {
      std::unique_lock lock(mu_);
      auto it = ctx->client_metadata().find(kForwardedHeader);
      mark_ = it == ctx->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
      arrived_ = true;
      cv_.notify_all();
      cv_.wait_for(lock, 10s, [&] { return !held_; });  // bounded even if the test fails
    }
    auto* mv = resp->add_metricvalues();
    mv->set_metricname(req->metricname());
    mv->set_metricvaluefloat(4.5);
    ctx->AddTrailingMetadata(kAnsweredTrailer, "1");
    return grpc::Status::OK;
  }
  void Hold(bool held) {
    {
      std::lock_guard lock(mu_);
      held_ = held;
    }
    cv_.notify_all();
  }
  bool WaitArrived() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return arrived_; });
  }
  std::string mark() {
    std::lock_guard lock(mu_);
    return mark_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false, arrived_ = false;
  std::string mark_;
};

// A completion-queue event that records which thread handled it.
struct ThreadProbe final : CqTag {
  std::promise<std::thread::id> id;
  void Proceed(bool) override { id.set_value(std::this_thread::get_id()); }
};

struct Outcome {
  grpc::Status status;
  double value = -1;
  bool answered = false;
  std::thread::id thread;
};

class PeerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder peer_builder;
    int peer_port = 0;
    peer_builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &peer_port);
    peer_builder.RegisterService(&peer_);
    peer_server_ = peer_builder.BuildAndStart();
    ASSERT_NE(peer_server_, nullptr);
    peer_addr_ = "127.0.0.1:" + std::to_string(peer_port);

    // The replica's own port: only its completion queue matters here.
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    loop_.Attach(&builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    loop_.Start();
    client_ = std::make_unique<PeerClient>(grpc::InsecureChannelCredentials(), "", &loop_);
  }

  void TearDown() override {
    peer_.Hold(false);
    client_->CancelAll();
    server_->Shutdown(std::chrono::system_clock::now());
    loop_.Stop();
    client_.reset();
    peer_server_->Shutdown(std::chrono::system_clock::now());
  }

  std::future<Outcome> Call(std::chrono::milliseconds deadline) {
    auto done = std::make_shared<std::promise<Outcome>>();
    externalscaler::GetMetricsRequest req;
    req.mutable_scaledobjectref()->set_namespace_("nim");
    req.mutable_scaledobjectref()->set_name("so");
    req.set_metricname("m");
    client_->GetMetrics(peer_addr_, req, deadline, kForwardedCall,
                        [done](const grpc::Status& s, const externalscaler::GetMetricsResponse& r, bool answered) {
                          Outcome o{s, r.metricvalues_size() == 1 ? r.metricvalues(0).metricvaluefloat() : -1, answered,
                                    std::this_thread::get_id()};
                          done->set_value(o);
                        });
    return done->get_future();
  }

  std::thread::id LoopThread() {
    ThreadProbe probe;
    grpc::Alarm alarm;
    {
      CallLoop::Gate gate(loop_);
      alarm.Set(loop_.cq(), std::chrono::system_clock::now(), &probe);
    }
    auto f = probe.id.get_future();
    EXPECT_EQ(f.wait_for(5s), std::future_status::ready);
    return f.get();
  }

  FakePeer peer_;
  std::unique_ptr<grpc::Server> peer_server_;
  std::string peer_addr_;
  CallLoop loop_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<PeerClient> client_;
};

TEST_F(PeerClientTest, TheAnswerIsHandedOnByTheLoopThreadWithTheMarkAndTheAnsweredFlag) {
  std::thread::id loop_thread = LoopThread();
  for (int i = 0; i < 3; ++i) {  // the first call connects; the others reuse the channel
    auto f = Call(5000ms);
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    Outcome o = f.get();
    EXPECT_TRUE(o.status.ok()) << o.status.error_message();
    EXPECT_TRUE(o.answered);
    EXPECT_EQ(o.value, 4.5);
    EXPECT_EQ(o.thread, loop_thread) << "the answer must not be handed to another thread";
  }
  EXPECT_EQ(peer_.mark(), kForwardedCall);
}

TEST_F(PeerClientTest, CancelAllEndsCallsInFlightAtOnceAndLaterCallsFailAtOnce) {
  peer_.Hold(true);
  auto held = Call(8000ms);
  ASSERT_TRUE(peer_.WaitArrived());
  auto start = std::chrono::steady_clock::now();
  client_->CancelAll();
  ASSERT_EQ(held.wait_for(3s), std::future_status::ready) << "a call in flight waited for its deadline";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  Outcome o = held.get();
  EXPECT_FALSE(o.answered);
  EXPECT_FALSE(o.status.ok());

  auto later = Call(8000ms);  // fails before anything is sent
  ASSERT_EQ(later.wait_for(0s), std::future_status::ready);
  Outcome l = later.get();
  EXPECT_FALSE(l.answered);
  EXPECT_EQ(l.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  peer_.Hold(false);
}

}  // namespace
}  // namespace nimscaler::service
