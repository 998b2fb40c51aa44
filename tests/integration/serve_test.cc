// End-to-end: the real `nim-scaler serve` binary on loopback ports, a loopback fake NIM
// pod serving the real NIM capture, and a gRPC client generated from our proto playing KEDA.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "externalscaler.grpc.pb.h"
#include "health.grpc.pb.h"
#include "scaler/net/http_client.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/testdata.h"
#include "tests/net/counting_server.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using externalscaler::ExternalScaler;
using testing::ChildProcess;
using testing::FakePod;
using testing::NimCapture;
using testing::WithSample;

constexpr const char* kKv = "gpu_cache_usage_perc";

// The article's pod: KV use 0.208 against a 0.1 target.
std::string ArticlePod() { return WithSample(NimCapture(), kKv, "0.208"); }

std::string IdlePod() {
  return WithSample(WithSample(NimCapture(), "num_requests_running", "0.0"), "num_requests_waiting", "0.0");
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({"--allow-static-endpoints"}); }

  void StartServer(std::vector<std::string> extra) {
    std::vector<std::string> argv = {std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler",
                                     "serve",
                                     "--grpc-addr",
                                     "127.0.0.1:0",
                                     "--http-addr",
                                     "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ChildProcess>(argv);
    ASSERT_TRUE(server_->started());
    auto m = server_->WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
    ASSERT_FALSE(m.empty()) << "server did not start:\n" << server_->output();
    grpc_port_ = std::stoi(m[1].str());
    http_port_ = std::stoi(m[2].str());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port_), grpc::InsecureChannelCredentials());
    stub_ = ExternalScaler::NewStub(channel_);
  }

  externalscaler::ScaledObjectRef Ref(const std::string& endpoint, std::map<std::string, std::string> extra = {}) {
    externalscaler::ScaledObjectRef ref;
    ref.set_name("meta-llama3-8b");
    ref.set_namespace_("nim");
    auto& md = *ref.mutable_scalermetadata();
    md["scalerAddress"] = "nim-scaler.nim-scaler.svc:9090";  // KEDA's own key: accepted
    md["endpoints"] = endpoint;
    md["engine"] = "nim";
    md["targetKvCache"] = "0.1";
    md["scrapeInterval"] = "500ms";
    // Short windows: the value follows the pod within a scrape (the default 60 s window
    // smooths it, by design; tests/window covers the policy).
    md["window"] = "1s";
    md["panicWindow"] = "500ms";
    for (auto& [k, v] : extra) md[k] = v;
    return ref;
  }

  grpc::Status GetMetrics(const externalscaler::ScaledObjectRef& ref, const std::string& name,
                          externalscaler::GetMetricsResponse* resp) {
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = ref;
    req.set_metricname(name);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    return stub_->GetMetrics(&ctx, req, resp);
  }

  std::string MetricName(const externalscaler::ScaledObjectRef& ref) {
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse spec;
    grpc::Status s = stub_->GetMetricSpec(&ctx, ref, &spec);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return spec.metricspecs_size() == 1 ? spec.metricspecs(0).metricname() : "";
  }

  // Polls GetMetrics until `pred` holds for the value (bounded).
  template <typename Pred>
  bool WaitForValue(const externalscaler::ScaledObjectRef& ref, const std::string& name, Pred pred,
                    std::chrono::milliseconds timeout, externalscaler::GetMetricsResponse* last) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      last->Clear();
      if (GetMetrics(ref, name, last).ok() && last->metricvalues_size() == 1 &&
          pred(last->metricvalues(0).metricvaluefloat())) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::unique_ptr<ChildProcess> server_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ExternalScaler::Stub> stub_;
};

TEST_F(ServeTest, GetMetricSpecIsOneStableLowercaseNameWithTargetOne) {
  FakePod pod(ArticlePod());
  grpc::ClientContext ctx;
  externalscaler::GetMetricSpecResponse resp;
  ASSERT_TRUE(stub_->GetMetricSpec(&ctx, Ref(pod.url()), &resp).ok());
  ASSERT_EQ(resp.metricspecs_size(), 1);
  EXPECT_EQ(resp.metricspecs(0).metricname(), "nim-nim-meta-llama3-8b");
  EXPECT_EQ(resp.metricspecs(0).targetsizefloat(), 1.0);
  EXPECT_EQ(resp.metricspecs(0).targetsize(), 1);
}

TEST_F(ServeTest, ArticleCaseReports208AsTwoPointZeroEightAndThreeReplicas) {
  FakePod pod(ArticlePod());
  auto ref = Ref(pod.url());
  std::string name = MetricName(ref);
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v > 0; }, 5s, &resp))
      << server_->output();
  ASSERT_EQ(resp.metricvalues_size(), 1);
  EXPECT_DOUBLE_EQ(resp.metricvalues(0).metricvaluefloat(), 2.08);
  EXPECT_EQ(resp.metricvalues(0).metricvalue(), 3);
  EXPECT_EQ(resp.metricvalues(0).metricname(), name);

  // The capture has one running request: active.
  grpc::ClientContext ctx;
  externalscaler::IsActiveResponse active;
  ASSERT_TRUE(stub_->IsActive(&ctx, ref, &active).ok());
  EXPECT_TRUE(active.result());
}

// The panic window is one scrape interval (500 ms), and sample times jitter by a few ms, so the
// first cycle after the change may still average in the old sample (2.08 and 4.5 -> 3.29); the
// next one cannot. Hence two intervals plus slack, not one (CI once saw 3.29 at 900 ms).
TEST_F(ServeTest, NewPodValueShowsWithinTwoScrapeIntervals) {
  FakePod pod(ArticlePod());
  auto ref = Ref(pod.url());
  std::string name = MetricName(ref);
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v == 2.08; }, 5s, &resp));
  pod.SetBody(WithSample(NimCapture(), kKv, "0.45"));
  auto changed = std::chrono::steady_clock::now();
  // scrapeInterval is 500ms; allow scheduling slack on a loaded 2-core machine.
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v == 4.5; }, 2 * 500ms + 400ms, &resp))
      << "last value " << (resp.metricvalues_size() ? resp.metricvalues(0).metricvaluefloat() : -1);
  EXPECT_EQ(resp.metricvalues(0).metricvalue(), 5);
  EXPECT_LE(std::chrono::steady_clock::now() - changed, 1400ms);
}

// The NIM capture with `slow` more requests whose first token took between 2.5 s and 5 s, and
// `running` requests in flight.
std::string TtftPod(int slow, int running) {
  std::string body = WithSample(WithSample(NimCapture(), "num_requests_running", std::to_string(running)),
                                "num_requests_waiting", "0.0");
  std::string count = std::to_string(5 + slow);  // the capture has 5 fast observations
  std::regex slow_buckets(R"re(^(time_to_first_token_seconds_bucket\{le="(5\.0|7\.5|10\.0|\+Inf)"[^}]*\}) \S+)re",
                          std::regex::multiline);
  body = std::regex_replace(body, slow_buckets, "$1 " + count);
  return WithSample(body, "time_to_first_token_seconds_count", count);
}

// Issue 13 item 1, through `serve`: a trigger with targetTtft alone is 0 and inactive while the
// model is idle (never UNAVAILABLE because nobody sent a request), rises under load, and falls
// back to 0 once the window has passed after the load stops.
TEST_F(ServeTest, TtftTargetAloneIsZeroWhenIdleRisesUnderLoadAndFallsAfterTheWindow) {
  FakePod pod(TtftPod(0, 0));
  auto ref = Ref(pod.url(), {{"targetTtft", "2s"}, {"window", "2s"}});
  ref.mutable_scalermetadata()->erase("targetKvCache");
  std::string name = MetricName(ref);
  auto is_active = [&] {
    grpc::ClientContext ctx;
    externalscaler::IsActiveResponse r;
    grpc::Status s = stub_->IsActive(&ctx, ref, &r);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    return r.result();
  };
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v == 0; }, 5s, &resp))
      << server_->output();
  // Idle for four scrape intervals: every answer is OK, 0 and inactive.
  for (auto end = std::chrono::steady_clock::now() + 2s; std::chrono::steady_clock::now() < end;) {
    resp.Clear();
    grpc::Status s = GetMetrics(ref, name, &resp);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    EXPECT_EQ(resp.metricvalues(0).metricvaluefloat(), 0);
    EXPECT_FALSE(is_active());
    std::this_thread::sleep_for(100ms);
  }
  // Load: ten slow first tokens every 100 ms (p95 near 4.9 s against a 2 s target).
  int slow = 0;
  double peak = 0;
  for (auto end = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < end && peak <= 1;) {
    slow += 10;
    pod.SetBody(TtftPod(slow, 3));
    resp.Clear();
    if (GetMetrics(ref, name, &resp).ok())
      peak = std::max(peak, static_cast<double>(resp.metricvalues(0).metricvaluefloat()));
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GT(peak, 1) << "the value rises under load";
  EXPECT_TRUE(is_active());
  // The load stops: the value falls to 0 after the window (2 s) and the policy's window (2 s).
  pod.SetBody(TtftPod(slow, 0));
  auto stopped = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitForValue(
      ref, name, [](double v) { return v == 0; }, 10s, &resp))
      << "last value " << (resp.metricvalues_size() ? resp.metricvalues(0).metricvaluefloat() : -1);
  EXPECT_GE(std::chrono::steady_clock::now() - stopped, 1500ms) << "the window still held the slow requests";
  EXPECT_FALSE(is_active());
}

// targetRequestRate through `serve`: the value is the pods' completed requests per second over
// the window divided by the target, and falls to 0 once the counter stops for a window.
TEST_F(ServeTest, RequestRateTargetFollowsTheCompletedRequestsAndFallsWhenTheyStop) {
  long completed = 5;  // the capture's request_success_total
  auto body = [&] { return WithSample(IdlePod(), "request_success_total", std::to_string(completed) + ".0"); };
  FakePod pod(body());
  auto ref = Ref(pod.url(), {{"targetRequestRate", "20"}, {"window", "2s"}});
  ref.mutable_scalermetadata()->erase("targetKvCache");
  std::string name = MetricName(ref);
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v == 0; }, 5s, &resp))
      << server_->output();
  // 10 more completed requests every 100 ms: at most 100 per second, 5 replicas' worth of 20; a
  // loaded machine stretches the sleeps, so the value is judged against what the test really did.
  auto start = std::chrono::steady_clock::now();
  long at_start = completed;
  double value = 0;
  double achieved = 0;  // completed requests per second since the start, as the test paced them
  for (auto end = start + 8s; std::chrono::steady_clock::now() < end;) {
    completed += 10;
    pod.SetBody(body());
    std::this_thread::sleep_for(100ms);
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    achieved = (completed - at_start) / elapsed.count();
    resp.Clear();
    if (elapsed > 3s && GetMetrics(ref, name, &resp).ok()) {
      value = resp.metricvalues(0).metricvaluefloat();
      if (std::abs(value - achieved / 20) < 0.25 * achieved / 20) break;
    }
  }
  EXPECT_NEAR(value, achieved / 20, 0.25 * achieved / 20) << "the requests per second over the window / 20";
  EXPECT_GT(value, 2);
  // The counter stops: no requests completed over a whole window is no demand.
  EXPECT_TRUE(WaitForValue(
      ref, name, [](double v) { return v == 0; }, 10s, &resp))
      << "last value " << (resp.metricvalues_size() ? resp.metricvalues(0).metricvaluefloat() : -1);
}

TEST_F(ServeTest, MetricNameMatchesCaseInsensitivelyAndWithKedaPrefixUnknownIsNotFound) {
  FakePod pod(ArticlePod());
  auto ref = Ref(pod.url());
  std::string name = MetricName(ref);
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v > 0; }, 5s, &resp));
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& variant : {upper, "s0-" + name, "s12-" + name}) {
    externalscaler::GetMetricsResponse r;
    ASSERT_TRUE(GetMetrics(ref, variant, &r).ok()) << variant;
    ASSERT_EQ(r.metricvalues_size(), 1);
    EXPECT_DOUBLE_EQ(r.metricvalues(0).metricvaluefloat(), 2.08);
  }
  externalscaler::GetMetricsResponse r;
  grpc::Status s = GetMetrics(ref, "some-other-metric", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find(name), std::string::npos) << s.error_message();
  EXPECT_EQ(r.metricvalues_size(), 0);
}

TEST_F(ServeTest, BadMetadataGetsOneInvalidArgumentNamingEveryProblem) {
  FakePod pod(ArticlePod());
  auto ref = Ref(pod.url(), {{"scrapeInterval", "fast"}});
  ref.mutable_scalermetadata()->erase("targetKvCache");
  (*ref.mutable_scalermetadata())["targetKvCach"] = "0.1";
  for (int rpc = 0; rpc < 3; ++rpc) {  // the same answer from every RPC
    grpc::ClientContext ctx;
    grpc::Status s;
    if (rpc == 0) {
      externalscaler::GetMetricSpecResponse r;
      s = stub_->GetMetricSpec(&ctx, ref, &r);
    } else if (rpc == 1) {
      externalscaler::IsActiveResponse r;
      s = stub_->IsActive(&ctx, ref, &r);
    } else {
      externalscaler::GetMetricsResponse r;
      s = GetMetrics(ref, "x", &r);
    }
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    const std::string& m = s.error_message();
    EXPECT_NE(m.find("unknown key \"targetKvCach\" (did you mean \"targetKvCache\"?)"), std::string::npos) << m;
    EXPECT_NE(m.find("scrapeInterval: \"fast\" is not a duration"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "first line must stand alone: " << m;
  }
}

TEST_F(ServeTest, DeadPodGivesUnavailableWithReasonAfterStalePeriod) {
  FakePod pod(ArticlePod());
  auto ref = Ref(pod.url());
  std::string name = MetricName(ref);
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v == 2.08; }, 5s, &resp));
  pod.SetStatus(500);
  // Within 3 x scrapeInterval the last gauges are kept: the value does not drop.
  std::this_thread::sleep_for(600ms);
  resp.Clear();
  ASSERT_TRUE(GetMetrics(ref, name, &resp).ok());
  EXPECT_DOUBLE_EQ(resp.metricvalues(0).metricvaluefloat(), 2.08);
  // After the keep period: UNAVAILABLE naming the cause, so KEDA's fallback can act.
  auto deadline = std::chrono::steady_clock::now() + 4s;
  grpc::Status s;
  do {
    std::this_thread::sleep_for(100ms);
    resp.Clear();
    s = GetMetrics(ref, name, &resp);
  } while (s.ok() && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("HTTP 500"), std::string::npos) << s.error_message();
}

TEST_F(ServeTest, StreamIsActivePushesTrueOnOpenAndOnlyOnRisingEdgesThenEndsOkOnSigterm) {
  FakePod idle(IdlePod());
  auto ref = Ref(idle.url());
  (void)MetricName(ref);
  grpc::ClientContext ctx;
  auto reader = stub_->StreamIsActive(&ctx, ref);

  std::mutex mu;
  std::vector<std::pair<bool, std::chrono::steady_clock::time_point>> got;
  std::thread rx([&] {
    externalscaler::IsActiveResponse msg;
    while (reader->Read(&msg)) {
      std::lock_guard lock(mu);
      got.emplace_back(msg.result(), std::chrono::steady_clock::now());
    }
  });
  std::this_thread::sleep_for(1500ms);  // three idle cycles: nothing may be pushed
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(got.empty()) << "pushed while inactive";
  }
  idle.SetBody(WithSample(IdlePod(), "num_requests_waiting", "3.0"));
  auto demand = std::chrono::steady_clock::now();
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(25ms);
    std::lock_guard lock(mu);
    if (!got.empty()) break;
  }
  std::this_thread::sleep_for(1200ms);  // stays active: no further pushes (no heartbeat yet)
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].first);
    EXPECT_LE(got[0].second - demand, 900ms);  // one scrape interval plus slack
  }
  // A second stream opened while active gets `true` at once.
  grpc::ClientContext ctx2;
  auto reader2 = stub_->StreamIsActive(&ctx2, ref);
  externalscaler::IsActiveResponse first;
  ASSERT_TRUE(reader2->Read(&first));
  EXPECT_TRUE(first.result());

  server_->Signal(SIGTERM);
  rx.join();
  EXPECT_TRUE(reader->Finish().ok()) << "streams must end with status OK on shutdown";
  externalscaler::IsActiveResponse extra;
  EXPECT_FALSE(reader2->Read(&extra));
  EXPECT_TRUE(reader2->Finish().ok());
  EXPECT_EQ(server_->Wait(10s), 0) << server_->output();
}

TEST_F(ServeTest, HealthServingAfterFirstCollectionAndHttpEndpoints) {
  FakePod pod(ArticlePod());
  auto ref = Ref(pod.url());
  std::string name = MetricName(ref);
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v > 0; }, 5s, &resp));
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckResponse hr;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  do {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    ASSERT_TRUE(health->Check(&ctx, req, &hr).ok());
    if (hr.status() == grpc::health::v1::HealthCheckResponse::SERVING) break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(hr.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  for (const char* service : {"readiness", "liveness"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse r;
    ASSERT_TRUE(health->Check(&ctx, req, &r).ok()) << service;
    EXPECT_EQ(r.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }

  auto http = net::MakeCurlHttpClient();
  std::string base = "http://127.0.0.1:" + std::to_string(http_port_);
  auto metrics = http->Get(base + "/metrics", {});
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("nimscaler_grpc_requests_total{code=\"OK\",method=\"GetMetrics\"}"), std::string::npos)
      << metrics->body.substr(0, 2000);
  EXPECT_NE(
      metrics->body.find("nimscaler_scaledobject_desired_replicas{namespace=\"nim\",scaledobject=\"meta-llama3-8b\","
                         "trigger=\"nim-nim-meta-llama3-8b\"} 2.08"),
      std::string::npos);
  // Issue 14 item 1: the names stock gRPC dashboards query, and the process itself.
  EXPECT_NE(metrics->body.find("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"GetMetrics\","
                               "grpc_service=\"externalscaler.ExternalScaler\",grpc_type=\"unary\"}"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("\nprocess_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(metrics->body.find("nimscaler_scrapes_total{result=\"success\"}"), std::string::npos);
  auto ready = http->Get(base + "/readyz", {});
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);
  auto debug = http->Get(base + "/debug/scaledobjects", {});
  ASSERT_TRUE(debug.ok());
  EXPECT_NE(debug->body.find("\"value\": 2.08"), std::string::npos) << debug->body;
  EXPECT_NE(debug->body.find(pod.url()), std::string::npos);
}

TEST(ServeStartup, StaticEndpointsRefusedWithoutFlagAndBadFlagsExitWithMessage) {
  ChildProcess bad({std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler", "serve", "--grpc-adr", ":1"});
  EXPECT_EQ(bad.Wait(10s), 2);
  EXPECT_NE(bad.output().find("unknown option flag \"--grpc-adr\" (did you mean \"grpc-addr\"?)"), std::string::npos)
      << bad.output();

  ChildProcess server({std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler", "serve", "--grpc-addr", "127.0.0.1:0",
                       "--http-addr", "127.0.0.1:0"});
  auto m = server.WaitFor(R"(serving grpc_port=(\d+))", 10s);
  ASSERT_FALSE(m.empty()) << server.output();
  auto stub =
      ExternalScaler::NewStub(grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
  externalscaler::ScaledObjectRef ref;
  ref.set_name("x");
  ref.set_namespace_("y");
  (*ref.mutable_scalermetadata())["endpoints"] = "http://127.0.0.1:1/metrics";
  grpc::ClientContext ctx;
  externalscaler::GetMetricSpecResponse resp;
  grpc::Status s = stub->GetMetricSpec(&ctx, ref, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("--allow-static-endpoints"), std::string::npos) << s.error_message();
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0);
}

}  // namespace
}  // namespace nimscaler

namespace nimscaler {
namespace {

// The trigger reference's metadata table (docs/trigger-reference.md) is generated from the same
// field table the server validates with; this keeps the two from drifting.
TEST(Readme, MetadataReferenceMatchesTheBinary) {
  testing::ChildProcess ref({std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler", "check", "--reference"});
  ASSERT_EQ(ref.Wait(std::chrono::seconds(10)), 0);
  std::string table = ref.output();
  std::ifstream in(std::string(NIMSCALER_SOURCE_DIR) + "/docs/trigger-reference.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string readme = ss.str();
  auto begin = readme.find("<!-- metadata-reference");
  auto end = readme.find("<!-- end metadata-reference -->");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  begin = readme.find('\n', begin) + 1;
  EXPECT_EQ(readme.substr(begin, end - begin), table)
      << "docs/trigger-reference.md is out of date: run scripts/update-readme-reference.sh";
}

}  // namespace
}  // namespace nimscaler

namespace nimscaler {
namespace {

// `nim-scaler check --scrape` on every engine capture: it names the engine it detected and
// prints the signal values the capture holds.
TEST(CheckCommand, ScrapeNamesTheEngineAndPrintsSignalsForEveryCapture) {
  struct Row {
    const char* file;
    const char* engine;
    std::vector<std::string> lines;
  };
  const Row rows[] = {
      {"engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom",
       "nim",
       {"kv_cache = 0.0002848191398461977  <- gpu_cache_usage_perc", "running = 1  <- num_requests_running"}},
      {"exposition/vllm-mixed-v0v1-opt125m-datadog-fixture.prom",
       "vllm",
       {"kv_cache = 0  <- vllm:kv_cache_usage_perc", "waiting = 0  <- vllm:num_requests_waiting"}},
      {"exposition/sglang-v0.4-docs-llama3.1-8b.prom",
       "sglang",
       {"kv_cache = 0.28  <- sglang:token_usage", "waiting = 2826  <- sglang:num_queue_reqs",
        "running = 162  <- sglang:num_running_reqs"}},
      {"exposition/tgi-v3-datadog-fixture.prom",
       "tgi",
       {"waiting = 0  <- tgi_queue_size", "running = 0  <- tgi_batch_current_size"}},
      {"exposition/triton-trtllm-backend-readme.prom",
       "triton",
       {"kv_cache = 0.4875  <- nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"}",
        "waiting = 1  <- nv_trt_llm_request_metrics{request_type=\"waiting\"}"}},
  };
  std::string md = ::testing::TempDir() + "/check-metadata.yaml";
  for (const auto& r : rows) {
    SCOPED_TRACE(r.file);
    testing::FakePod pod(testing::ReadTestdata(r.file), "/metrics");
    // TGI serves no KV fraction, so its formula reads only request counts.
    std::ofstream(md) << "engine: auto\n"
                      << (std::string(r.engine) == "tgi" ? "formula: \"sum(waiting)/4 + sum(running)/64\"\n"
                                                         : "targetKvCache: \"0.7\"\n");
    testing::ChildProcess check(
        {std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler", "check", "--metadata", md, "--scrape", pod.url()});
    int rc = check.Wait(std::chrono::seconds(20));
    const std::string& out = check.output();
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(std::string("engine: ") + r.engine + " (detected)"), std::string::npos) << out;
    for (const auto& l : r.lines) EXPECT_NE(out.find(l), std::string::npos) << "missing \"" << l << "\" in\n" << out;
    EXPECT_NE(out.find("result: value "), std::string::npos) << out;
  }
}

// The gRPC port is served by one thread on the async API (scaler/service/async_calls.h): no
// callback-API "nexting" threads and no synchronous-server threads, which would take turns
// polling the port and hand calls between threads. Checked after every kind of call was made.
TEST_F(ServeTest, OnlyTheCallLoopThreadPollsTheGrpcPort) {
  FakePod pod(ArticlePod());
  auto ref = Ref(pod.url());
  std::string name = MetricName(ref);
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(WaitForValue(
      ref, name, [](double v) { return v > 0; }, 5s, &resp));
  {
    grpc::ClientContext ctx;
    externalscaler::IsActiveResponse active;
    ASSERT_TRUE(stub_->IsActive(&ctx, ref, &active).ok());
  }
  {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckResponse hr;
    ASSERT_TRUE(grpc::health::v1::Health::NewStub(channel_)->Check(&ctx, {}, &hr).ok());
  }
  {
    grpc::ClientContext ctx;
    auto stream = stub_->StreamIsActive(&ctx, ref);
    externalscaler::IsActiveResponse msg;
    ASSERT_TRUE(stream->Read(&msg));  // the pod is active: `true` at once
    ctx.TryCancel();
    while (stream->Read(&msg)) {
    }
  }
  std::vector<std::string> names;
  std::string task_dir = "/proc/" + std::to_string(server_->pid()) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(task_dir)) {
    std::ifstream comm(task.path() / "comm");
    std::string n;
    std::getline(comm, n);
    names.push_back(n);
  }
  ASSERT_FALSE(names.empty());
  for (const std::string& n : names) {
    EXPECT_NE(n, "nexting_thread") << "a callback-API method is registered";
    EXPECT_NE(n, "grpcpp_sync_ser") << "a synchronous service is registered";
  }
}

// Issue 16 item 2: --max-idle-connections reaches the collection client. With the default a
// pod sees one keep-alive connection for all its scrapes; with 0 every scrape opens its own.
TEST(ServeConnections, MaxIdleConnectionsZeroOpensAConnectionPerScrape) {
  for (bool keep : {true, false}) {
    testing::CountingServer pod(1);
    std::vector<std::string> argv = {std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler",
                                     "serve",
                                     "--grpc-addr",
                                     "127.0.0.1:0",
                                     "--http-addr",
                                     "127.0.0.1:0",
                                     "--allow-static-endpoints",
                                     "--kube-api",
                                     "off",
                                     "--min-scrape-interval",
                                     "100ms"};
    if (!keep) argv.insert(argv.end(), {"--max-idle-connections", "0"});
    ChildProcess server(argv);
    auto m = server.WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
    ASSERT_FALSE(m.empty()) << server.output();
    auto stub =
        ExternalScaler::NewStub(grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
    externalscaler::ScaledObjectRef ref;
    ref.set_name("custom");
    ref.set_namespace_("nim");
    (*ref.mutable_scalermetadata())["endpoints"] = pod.url(0);
    (*ref.mutable_scalermetadata())["scrapeInterval"] = "100ms";
    (*ref.mutable_scalermetadata())["signal.x"] = "x";
    (*ref.mutable_scalermetadata())["formula"] = "sum(x)";
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse spec;
    grpc::Status st = stub->GetMetricSpec(&ctx, ref, &spec);
    ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << server.output();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (pod.requests().size() < 6 && std::chrono::steady_clock::now() < deadline) {
      server.output();  // keep the log pipe drained
      std::this_thread::sleep_for(20ms);
    }
    const size_t scrapes = pod.requests().size();
    ASSERT_GE(scrapes, 6u) << server.output();
    if (keep) {
      EXPECT_EQ(pod.accepted(), 1) << scrapes << " scrapes";
    } else {
      EXPECT_GE(static_cast<size_t>(pod.accepted()), scrapes) << "each scrape needs a new connection";
    }
  }
}

}  // namespace
}  // namespace nimscaler
