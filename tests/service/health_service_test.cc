// HealthService on a real gRPC server over loopback, served by a CallLoop: Check, Watch
// following changes, unknown names, and shutdown ending every Watch with NOT_SERVING then OK.
#include "scaler/service/health_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "scaler/service/async_calls.h"

namespace nimscaler::service {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&health_);
    loop_.Attach(&builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    health_.Set("", true);
    health_.Set("readiness", false);
    health_.Start(&loop_);
    loop_.Start();
    stub_ =
        Health::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    loop_.Stop();
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    HealthCheckRequest req;
    req.set_service(service);
    return stub_->Check(&ctx, req, out);
  }

  CallLoop loop_;  // declared first: stops last
  HealthService health_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthServiceTest, CheckAnswersKnownNamesAndNotFoundForOthers) {
  HealthCheckResponse r;
  ASSERT_TRUE(Check("", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check("readiness", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  grpc::Status s = Check("no-such-service", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("no-such-service"), std::string::npos);
  health_.Set("readiness", true);
  ASSERT_TRUE(Check("readiness", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
}

TEST_F(HealthServiceTest, WatchSendsTheStatusThenEachChangeAndEndsOkOnShutdown) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckRequest req;
  req.set_service("readiness");
  auto reader = stub_->Watch(&ctx, req);
  HealthCheckResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  EXPECT_EQ(msg.status(), HealthCheckResponse::NOT_SERVING);
  health_.Set("readiness", true);
  ASSERT_TRUE(reader->Read(&msg));
  EXPECT_EQ(msg.status(), HealthCheckResponse::SERVING);
  health_.Set("readiness", true);  // no change: no message
  health_.Set("", false);          // another name: no message on this watch
  health_.Shutdown();
  ASSERT_TRUE(reader->Read(&msg));
  EXPECT_EQ(msg.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&msg));
  grpc::Status end = reader->Finish();
  EXPECT_TRUE(end.ok()) << end.error_code() << " " << end.error_message();
}

TEST_F(HealthServiceTest, WatchOfAnUnknownNameSaysServiceUnknownUntilItIsSet) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckRequest req;
  req.set_service("later");
  auto reader = stub_->Watch(&ctx, req);
  HealthCheckResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  EXPECT_EQ(msg.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  health_.Set("later", true);
  ASSERT_TRUE(reader->Read(&msg));
  EXPECT_EQ(msg.status(), HealthCheckResponse::SERVING);
  ctx.TryCancel();
  EXPECT_FALSE(reader->Read(&msg));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace nimscaler::service
