// CallLoop shutdown (issue 19 item 3b), deterministic: streams whose writes are blocked by flow
// control (a raw HTTP/2 client that grants no window) are on a real gRPC server over loopback;
// the test holds the loop thread busy at the worst moment, so the events of the cancelled
// writes are handled only after the completion queue began shutting down. Before the gate, the
// handler of such an event started a Finish on that queue and gRPC aborted the process
// ("assertion failed: grpc_cq_begin_op"); a test binary that aborts fails.
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

#include "health.grpc.pb.h"
#include "scaler/service/async_calls.h"
#include "scaler/service/health_service.h"
#include "tests/integration/raw_h2_client.h"

namespace nimscaler::service {
namespace {

using namespace std::chrono_literals;

// A completion-queue event whose handler blocks the loop thread until released.
struct Blocker final : CqTag {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, released = false;
  void Proceed(bool) override {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, 10s, [&] { return released; });  // bounded even if the test fails
  }
  bool WaitEntered() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return entered; });
  }
  void Release() {
    {
      std::lock_guard lock(mu);
      released = true;
    }
    cv.notify_all();
  }
};

class CallLoopShutdown : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&health_);
    loop_.Attach(&builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    health_.Set("readiness", true);
    health_.Start(&loop_);
    loop_.Start();
  }

  // Opens `n` Watch streams that can never receive their first message.
  std::unique_ptr<testing::RawH2Client> BlockedWatches(int n) {
    auto client = std::make_unique<testing::RawH2Client>(port_);
    grpc::health::v1::HealthCheckRequest req;
    req.set_service("readiness");
    for (int i = 0; i < n; ++i) client->OpenCall("/grpc.health.v1.Health/Watch", req.SerializeAsString());
    return client;
  }

  int port_ = 0;
  CallLoop loop_;  // declared first: stops last
  HealthService health_;
  std::unique_ptr<grpc::Server> server_;
};

// The loop thread is held while the server's shutdown cancels the blocked writes and while
// the queue shuts down; only then does it see the failed writes (of streams already told to
// End). Nothing may be started on the queue then: the process must not abort.
TEST_F(CallLoopShutdown, EventsHandledAfterTheQueueShutDownStartNoOperation) {
  auto client = BlockedWatches(50);
  ASSERT_TRUE(client->WaitForHeaders(50, 5s)) << client->streams_with_headers();
  health_.Shutdown();  // End(OK) on every Watch: each finish waits behind its blocked write

  Blocker blocker;
  grpc::Alarm alarm;
  alarm.Set(loop_.cq(), std::chrono::system_clock::now(), &blocker);
  ASSERT_TRUE(blocker.WaitEntered());
  server_->Shutdown(std::chrono::system_clock::now());  // cancels every call at once
  std::thread release([&] {
    std::this_thread::sleep_for(200ms);  // loop_.Stop() below has shut the queue down by now
    blocker.Release();
  });
  loop_.Stop();  // returns once every pending event was drained
  release.join();
  EXPECT_EQ(loop_.open_streams(), 0u);
}

// CancelStreams: streams that do not finish on their own (writes blocked) are cancelled and
// closed while the queue still runs, so none is left for the queue's shutdown.
TEST_F(CallLoopShutdown, CancelStreamsClosesStreamsWhoseClientStoppedReading) {
  auto client = BlockedWatches(30);
  ASSERT_TRUE(client->WaitForHeaders(30, 5s)) << client->streams_with_headers();
  EXPECT_EQ(loop_.open_streams(), 30u);
  health_.Shutdown();
  auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(loop_.CancelStreams(now + 100ms, now + 5s), 30u);
  EXPECT_EQ(loop_.open_streams(), 0u) << "cancelled streams are closed (and deleted) before this returns";
  server_->Shutdown(std::chrono::system_clock::now() + 100ms);
  loop_.Stop();
}

// With nothing blocked, CancelStreams cancels nothing: streams told to End finish normally.
TEST_F(CallLoopShutdown, CancelStreamsLeavesStreamsThatFinishOnTheirOwn) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service("readiness");
  auto reader = stub->Watch(&ctx, req);
  grpc::health::v1::HealthCheckResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  std::thread rx([&] {
    while (reader->Read(&msg)) {
    }
  });
  health_.Shutdown();
  auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(loop_.CancelStreams(now + 5s, now + 5s), 0u);
  rx.join();
  EXPECT_TRUE(reader->Finish().ok());
  server_->Shutdown(std::chrono::system_clock::now() + 100ms);
  loop_.Stop();
}

}  // namespace
}  // namespace nimscaler::service
