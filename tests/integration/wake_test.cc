// Waking from zero, end to end: the real `nim-scaler serve`, a fake Kubernetes API whose
// Service has no pods (scaled to zero), a real Prometheus server for wakeQuery, the wake
// hook, wakeHold, release by pods, and the stream heartbeat.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "externalscaler.grpc.pb.h"
#include "scaler/net/http_client.h"
#include "scaler/trigger/scaler_spec.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_kube_api.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/prometheus_server.h"
#include "tests/fakes/testdata.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Records every message of one StreamIsActive stream with its arrival time.
class StreamRecorder {
 public:
  StreamRecorder(externalscaler::ExternalScaler::Stub* stub, const externalscaler::ScaledObjectRef& ref) {
    reader_ = stub->StreamIsActive(&ctx_, ref);
    thread_ = std::thread([this] {
      externalscaler::IsActiveResponse msg;
      while (reader_->Read(&msg)) {
        std::lock_guard lock(mu_);
        got_.emplace_back(msg.result(), Clock::now());
      }
    });
  }
  ~StreamRecorder() {
    ctx_.TryCancel();
    thread_.join();
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return got_.size();
  }
  std::vector<std::pair<bool, Clock::time_point>> messages() {
    std::lock_guard lock(mu_);
    return got_;
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (count() >= n) return true;
      std::this_thread::sleep_for(2ms);
    }
    return count() >= n;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<externalscaler::IsActiveResponse>> reader_;
  std::mutex mu_;
  std::vector<std::pair<bool, Clock::time_point>> got_;
  std::thread thread_;
};

class WakeTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler",
                                     "serve",
                                     "--grpc-addr",
                                     "127.0.0.1:0",
                                     "--http-addr",
                                     "127.0.0.1:0",
                                     "--kube-api",
                                     api_.url(),
                                     "--min-scrape-interval",
                                     "100ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<testing::ChildProcess>(argv);
    auto m = server_->WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
    ASSERT_FALSE(m.empty()) << server_->output();
    grpc_port_ = m[1].str();
    http_base_ = "http://127.0.0.1:" + m[2].str();
    stub_ = externalscaler::ExternalScaler::NewStub(
        grpc::CreateChannel("127.0.0.1:" + grpc_port_, grpc::InsecureChannelCredentials()));
  }

  externalscaler::ScaledObjectRef Ref(std::map<std::string, std::string> extra) {
    externalscaler::ScaledObjectRef ref;
    ref.set_name("llama");
    ref.set_namespace_("nim");
    auto& md = *ref.mutable_scalermetadata();
    md["service"] = "llama";
    md["port"] = "http";
    md["engine"] = "nim";
    md["targetKvCache"] = "0.1";
    md["scrapeInterval"] = "200ms";
    md["window"] = "400ms";
    md["panicWindow"] = "200ms";
    for (auto& [k, v] : extra) md[k] = v;
    return ref;
  }

  bool IsActive(const externalscaler::ScaledObjectRef& ref) {
    grpc::ClientContext ctx;
    externalscaler::IsActiveResponse r;
    grpc::Status s = stub_->IsActive(&ctx, ref, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return r.result();
  }
  double Value(const externalscaler::ScaledObjectRef& ref) {
    grpc::ClientContext ctx;
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = ref;
    req.set_metricname("nim-nim-llama");
    externalscaler::GetMetricsResponse r;
    grpc::Status s = stub_->GetMetrics(&ctx, req, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return r.metricvalues_size() == 1 ? r.metricvalues(0).metricvaluefloat() : -1;
  }
  void Track(const externalscaler::ScaledObjectRef& ref) {
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse r;
    ASSERT_TRUE(stub_->GetMetricSpec(&ctx, ref, &r).ok());
    EXPECT_FALSE(IsActive(ref));  // scaled to zero, no demand
    EXPECT_EQ(Value(ref), 0);
  }
  // Our HttpClient only GETs, so the hook is called with a minimal raw HTTP/1.1 POST.
  Result<net::HttpResponse> Post(const std::string& path, const std::string& token = "") {
    return RawPost(http_base_.substr(17), path, token);
  }
  static Result<net::HttpResponse> RawPost(const std::string& port, const std::string& path, const std::string& token) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      return Unavailable("connect failed");
    }
    std::string req = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n" +
                      (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") + "\r\n";
    (void)!write(fd, req.data(), req.size());
    std::string resp;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
    close(fd);
    net::HttpResponse out;
    out.status = resp.size() > 12 ? std::stol(resp.substr(9, 3)) : 0;
    auto body = resp.find("\r\n\r\n");
    out.body = body == std::string::npos ? "" : resp.substr(body + 4);
    return out;
  }

  testing::FakeKubeApi api_{"nim", "llama"};
  std::unique_ptr<testing::ChildProcess> server_;
  std::string grpc_port_, http_base_;
  std::unique_ptr<externalscaler::ExternalScaler::Stub> stub_;
};

TEST_F(WakeTest, HookWakesWithinAMomentNeedsTheTokenAndHoldsUntilWakeHoldEnds) {
  std::string token_file = ::testing::TempDir() + "/wake-token";
  std::ofstream(token_file) << "s3cret\n";
  Start({"--wake-token-file", token_file, "--stream-heartbeat", "0s"});
  auto ref = Ref({{"wakeHold", "1500ms"}});
  Track(ref);
  StreamRecorder stream(stub_.get(), ref);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(stream.count(), 0u) << "nothing is pushed while inactive";

  auto refused = Post("/v1/wake/nim/llama");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 401);
  auto wrong = Post("/v1/wake/nim/llama", "nope");
  EXPECT_EQ(wrong->status, 401);
  // Not tracked yet but in the cluster (issue 12 item 4): accepted and kept until KEDA first
  // asks, not a 404. A name the Kubernetes API does not know is a 404 (the wake is still kept).
  api_.AddScaledObject("nim", "other");
  auto unknown = Post("/v1/wake/nim/other", "s3cret");
  EXPECT_EQ(unknown->status, 202);
  EXPECT_NE(unknown->body.find("not tracked by this replica yet"), std::string::npos) << unknown->body;
  EXPECT_NE(unknown->body.find("applied when KEDA first asks"), std::string::npos) << unknown->body;
  auto nowhere = Post("/v1/wake/nim/typo", "s3cret");
  EXPECT_EQ(nowhere->status, 404) << nowhere->body;
  EXPECT_NE(nowhere->body.find("no ScaledObject nim/typo in the cluster"), std::string::npos) << nowhere->body;

  auto called = Clock::now();
  auto ok = Post("/v1/wake/nim/llama", "s3cret");
  ASSERT_EQ(ok->status, 200) << ok->body;
  ASSERT_TRUE(stream.WaitFor(1, 1s));
  auto latency = stream.messages()[0].second - called;
  std::cout << "wake hook -> StreamIsActive true: "
            << std::chrono::duration_cast<std::chrono::microseconds>(latency).count() << " us\n";
  EXPECT_TRUE(stream.messages()[0].first);
  EXPECT_LT(latency, 100ms);
  EXPECT_TRUE(IsActive(ref));
  EXPECT_GE(Value(ref), 1.0) << "a woken trigger asks for at least one replica";

  std::this_thread::sleep_for(2200ms);  // past wakeHold with no pods showing demand
  EXPECT_FALSE(IsActive(ref));
  EXPECT_EQ(Value(ref), 0);
  for (const auto& m : stream.messages()) EXPECT_TRUE(m.first) << "false is never sent";
  EXPECT_EQ(stream.count(), 1u) << "one edge, one message (heartbeat off)";
}

TEST_F(WakeTest, ReadyPodsShowingDemandReleaseTheWakeAndHeartbeatRepeatsTrue) {
  Start({"--stream-heartbeat", "500ms"});
  auto ref = Ref({{"wakeHold", "1h"}});
  Track(ref);
  StreamRecorder stream(stub_.get(), ref);
  ASSERT_EQ(Post("/v1/wake/nim/llama")->status, 200);  // no token file: open hook
  ASSERT_TRUE(stream.WaitFor(1, 1s));
  // The pod comes up and shows the demand itself: the wake is released, activity stays.
  testing::FakePod pod(testing::WithSample(testing::NimCapture(), "num_requests_waiting", "3.0"));
  api_.SetPod("p0", "127.0.0.1", std::stoi(pod.url().substr(pod.url().rfind(':') + 1)), true);
  auto http = net::MakeCurlHttpClient();
  bool released = false;
  for (int i = 0; i < 50 && !released; ++i) {
    std::this_thread::sleep_for(100ms);
    auto d = http->Get(http_base_ + "/debug/scaledobjects", {});
    released = d.ok() && d->body.find("\"woken\": false") != std::string::npos &&
               d->body.find("\"answered\": true") != std::string::npos;
  }
  EXPECT_TRUE(released) << server_->output();
  EXPECT_TRUE(IsActive(ref));
  // Heartbeat: while active, `true` is re-sent every 500 ms (and nothing else).
  size_t before = stream.count();
  std::this_thread::sleep_for(1600ms);
  size_t beats = stream.count() - before;
  EXPECT_GE(beats, 2u);
  EXPECT_LE(beats, 4u);
  // Idle pod: activity drops (deactivation comes from polling, never a pushed false).
  pod.SetBody(testing::WithSample(testing::WithSample(testing::NimCapture(), "num_requests_waiting", "0.0"),
                                  "num_requests_running", "0.0"));
  for (int i = 0; i < 30 && IsActive(ref); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(IsActive(ref));
  for (const auto& m : stream.messages()) EXPECT_TRUE(m.first);
}

TEST_F(WakeTest, WakeQueryAgainstARealPrometheusWakesFromZero) {
  if (!testing::PrometheusServer::Available()) GTEST_SKIP() << "needs Debian's prometheus package";
  // A gateway in front of the model exposes how many requests wait for a backend.
  testing::FakePod gateway("gateway_requests_waiting{model=\"llama\"} 0\n", "/metrics");
  std::string gw = gateway.url().substr(7);
  testing::PrometheusServer prom({gw.substr(0, gw.find('/'))}, "/metrics", "1s");
  ASSERT_TRUE(prom.WaitForData("gateway_requests_waiting", 15s));
  // This Prometheus is on loopback, which wakeQuery may reach only with static endpoints
  // allowed (issue 19 item 4: the author's addresses may not lead to this host).
  Start({"--stream-heartbeat", "0s", "--allow-static-endpoints"});
  auto ref = Ref({{"wakeQuery", "sum(gateway_requests_waiting{model=\"llama\"})"},
                  {"prometheusAddress", prom.url()},
                  {"wakeHold", "1h"}});
  Track(ref);
  StreamRecorder stream(stub_.get(), ref);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(stream.count(), 0u);

  gateway.SetBody("gateway_requests_waiting{model=\"llama\"} 3\n");
  // When Prometheus has the demand, our next cycle (every 200 ms) must see it and push.
  Clock::time_point visible{};
  for (int i = 0; i < 100; ++i) {
    auto d = prom.Query("sum(gateway_requests_waiting{model=\"llama\"})");
    if (!d["result"].empty() && d["result"][0]["value"][1] == "3") {
      visible = Clock::now();
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_NE(visible, Clock::time_point{}) << "Prometheus never scraped the gateway";
  ASSERT_TRUE(stream.WaitFor(1, 2s)) << server_->output();
  auto latency = stream.messages()[0].second - visible;
  std::cout << "Prometheus sees demand -> StreamIsActive true: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(latency).count() << " ms (scrapeInterval 200ms)\n";
  EXPECT_LT(latency, 200ms + 100ms) << "within one scrape interval plus 100 ms";
  EXPECT_TRUE(IsActive(ref));
  EXPECT_GE(Value(ref), 1.0);
}

TEST_F(WakeTest, WakeQueryErrorsAreVisibleNotSilent) {
  // The operator allows this Prometheus (issue 14 item 5); the address rule then refuses it.
  Start({"--prometheus-allow", "http://127.0.0.1:1"});
  {
    // Any other prometheusAddress is refused before anything is fetched.
    auto other = Ref({{"wakeQuery", "sum(x)"}, {"prometheusAddress", "http://127.0.0.2:9090"}});
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse r;
    grpc::Status s = stub_->GetMetricSpec(&ctx, other, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("prometheusAddress: \"http://127.0.0.2:9090\" is not allowed by this server "
                                     "(allowed: http://127.0.0.1:1)"),
              std::string::npos)
        << s.error_message();
  }
  auto ref = Ref({{"wakeQuery", "sum(x)"}, {"prometheusAddress", "http://127.0.0.1:1"}});
  Track(ref);
  auto http = net::MakeCurlHttpClient();
  bool reported = false;
  for (int i = 0; i < 30 && !reported; ++i) {
    std::this_thread::sleep_for(100ms);
    auto d = http->Get(http_base_ + "/debug/scaledobjects", {});
    reported = d.ok() && d->body.find("\"wakeError\": \"wakeQuery: GET http://127.0.0.1:1") != std::string::npos;
  }
  auto last = http->Get(http_base_ + "/debug/scaledobjects", {});
  EXPECT_TRUE(reported) << (last.ok() ? last->body : last.status().message()) << server_->output();
  EXPECT_NE(server_->output().find("wakeQuery: GET http://127.0.0.1:1"), std::string::npos);
}

// Issue 18 item 1: a front door's queue, scraped directly, wakes the trigger. One fake front door
// per preset serves that project's metric shapes (tests/testdata/frontdoor/SOURCES.md); the
// model's Service has no pod.
struct FrontDoorCase {
  std::string preset;
  std::string labels;     // frontDoorLabels: this model's series only
  std::string idle_line;  // the model's queue sample at 0, rewritten to demand
  std::string busy_line;
};

std::string Rewrite(std::string body, const std::string& from, const std::string& to) {
  size_t at = body.find(from);
  if (at == std::string::npos) throw std::runtime_error("fixture has no line " + from);
  return body.replace(at, from.size(), to);
}

TEST_F(WakeTest, FrontDoorQueueWakesWithinOneScrapeForEveryPreset) {
  const std::vector<FrontDoorCase> cases = {
      {"http-add-on", R"(route_name="llama",route_namespace="nim")",
       R"(interceptor_request_concurrency{route_name="llama",route_namespace="nim"} 0)",
       R"(interceptor_request_concurrency{route_name="llama",route_namespace="nim"} 2)"},
      {"gie", R"(model_name="llama")",
       R"(inference_extension_flow_control_queue_size{fairness_id="default",inference_pool="llama-pool",model_name="llama",priority="0",target_model_name="llama"} 0)",
       R"(inference_extension_flow_control_queue_size{fairness_id="default",inference_pool="llama-pool",model_name="llama",priority="0",target_model_name="llama"} 4)"},
      {"envoy-ai-gateway", R"(envoy_cluster_name="httproute/nim/llama/rule/0")",
       R"(envoy_cluster_upstream_rq_pending_active{envoy_cluster_name="httproute/nim/llama/rule/0"} 0)",
       R"(envoy_cluster_upstream_rq_pending_active{envoy_cluster_name="httproute/nim/llama/rule/0"} 1)"},
      {"llm-d", R"(model_name="llama")",
       R"(llm_d_epp_flow_control_queue_size{fairness_id="default",inference_pool="llama-pool",model_name="llama",priority="0",target_model_name="llama"} 0)",
       R"(llm_d_epp_flow_control_queue_size{fairness_id="default",inference_pool="llama-pool",model_name="llama",priority="0",target_model_name="llama"} 3)"},
  };
  Start({"--allow-static-endpoints", "--stream-heartbeat", "0s"});  // front doors on loopback
  std::vector<std::unique_ptr<testing::FakePod>> doors;
  std::vector<externalscaler::ScaledObjectRef> refs;
  std::vector<std::unique_ptr<StreamRecorder>> streams;
  for (const auto& c : cases) {
    std::string body = testing::ReadTestdata("frontdoor/" + c.preset + ".prom");
    doors.push_back(std::make_unique<testing::FakePod>(body, "/metrics"));
    auto ref = Ref({{"frontDoor", doors.back()->url()}, {"frontDoorPreset", c.preset}, {"frontDoorLabels", c.labels}});
    ref.set_name("llama-" + c.preset);
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse r;
    grpc::Status s = stub_->GetMetricSpec(&ctx, ref, &r);
    ASSERT_TRUE(s.ok()) << c.preset << ": " << s.error_message();
    refs.push_back(ref);
    streams.push_back(std::make_unique<StreamRecorder>(stub_.get(), ref));
  }
  // Queue 0 for this model (other routes busy, Envoy's own cluster active): inactive.
  std::this_thread::sleep_for(700ms);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_FALSE(IsActive(refs[i])) << cases[i].preset << "\n" << server_->output();
    EXPECT_EQ(streams[i]->count(), 0u) << cases[i].preset;
  }
  // Demand at the front door: `true` on the stream within one scrape interval (200 ms) + 100 ms.
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string body = testing::ReadTestdata("frontdoor/" + cases[i].preset + ".prom");
    auto changed = Clock::now();
    doors[i]->SetBody(Rewrite(body, cases[i].idle_line, cases[i].busy_line));
    ASSERT_TRUE(streams[i]->WaitFor(1, 2s)) << cases[i].preset << "\n" << server_->output();
    auto latency = streams[i]->messages()[0].second - changed;
    std::cout << cases[i].preset << ": front-door queue -> StreamIsActive true: "
              << std::chrono::duration_cast<std::chrono::milliseconds>(latency).count() << " ms\n";
    EXPECT_TRUE(streams[i]->messages()[0].first);
    EXPECT_LE(latency, 300ms) << cases[i].preset;
    EXPECT_TRUE(IsActive(refs[i])) << cases[i].preset;
  }
  EXPECT_NE(server_->output().find("woken by the front door"), std::string::npos) << server_->output();
}

TEST_F(WakeTest, ReadyPodsServingTheDemandReleaseTheFrontDoorsHold) {
  Start({"--allow-static-endpoints"});
  const std::string idle = R"(interceptor_request_concurrency{route_name="llama",route_namespace="nim"} 0)";
  std::string body = testing::ReadTestdata("frontdoor/http-add-on.prom");
  testing::FakePod door(body, "/metrics");
  auto ref = Ref({{"frontDoor", door.url()},
                  {"frontDoorPreset", "http-add-on"},
                  {"frontDoorLabels", R"(route_name="llama",route_namespace="nim")"},
                  {"wakeHold", "1h"},
                  {"formula", "max(sum(kv_cache)/0.1, sum(frontdoor_inflight)/4)"}});
  ref.mutable_scalermetadata()->erase("targetKvCache");  // the formula says it all
  Track(ref);
  auto http = net::MakeCurlHttpClient();
  auto debug_has = [&](const std::vector<std::string>& all) {
    for (int i = 0; i < 50; ++i) {
      auto d = http->Get(http_base_ + "/debug/scaledobjects", {});
      bool ok = d.ok();
      for (const auto& text : all) ok = ok && d->body.find(text) != std::string::npos;
      if (ok) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  door.SetBody(Rewrite(body, idle, R"(interceptor_request_concurrency{route_name="llama",route_namespace="nim"} 6)"));
  EXPECT_TRUE(debug_has({"\"woken\": true", "\"frontdoor_inflight\": 6.0"})) << server_->output();
  EXPECT_TRUE(IsActive(ref));
  EXPECT_GE(Value(ref), 1.0);

  // A ready pod serving the demand: the front door no longer holds the trigger, the pod does.
  testing::FakePod pod(testing::WithSample(testing::NimCapture(), "num_requests_running", "6.0"));
  api_.SetPod("p0", "127.0.0.1", std::stoi(pod.url().substr(pod.url().rfind(':') + 1)), true);
  EXPECT_TRUE(debug_has({"\"woken\": false", "\"answered\": true"})) << server_->output();
  EXPECT_NE(server_->output().find("wake released: ready pods show the demand"), std::string::npos);
  EXPECT_TRUE(IsActive(ref));
  // The formula reads the front door's queue as a signal: 6 in flight / 4 = 1.5 replicas, once
  // the window (400 ms) has only cycles with the pod.
  double value = 0;
  for (int i = 0; i < 30 && value < 1.5; ++i) {
    value = Value(ref);
    if (value < 1.5) std::this_thread::sleep_for(100ms);
  }
  EXPECT_DOUBLE_EQ(value, 1.5);

  // Demand gone at the front door and on the pod: inactive, with no wakeHold left to run out.
  door.SetBody(body);
  pod.SetBody(testing::WithSample(testing::WithSample(testing::NimCapture(), "num_requests_waiting", "0.0"),
                                  "num_requests_running", "0.0"));
  for (int i = 0; i < 30 && IsActive(ref); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(IsActive(ref)) << server_->output();
}

TEST(FrontDoorMetadata, ErrorsNameTheKeyAndWhatToWrite) {
  trigger::SpecOptions opts;
  opts.allow_static_endpoints = true;
  auto build = [&](std::map<std::string, std::string> extra) {
    config::Metadata md = {{"service", "llama"}};
    for (auto& [k, v] : extra) md[k] = v;
    return trigger::BuildScalerSpec("nim", "llama", md, opts);
  };
  auto message = [&](std::map<std::string, std::string> extra) {
    auto s = build(std::move(extra));
    return s.ok() ? std::string("ok") : s.status().message();
  };
  EXPECT_NE(message({{"frontDoor", "http://gw:19001/stats/prometheus"}})
                .find("frontDoorPreset (http-add-on, gie, envoy-ai-gateway, llm-d)"),
            std::string::npos);
  EXPECT_NE(message({{"frontDoor", "http://gw:19001"}, {"frontDoorPreset", "envoy-ai-gateway"}})
                .find("frontDoorLabels: the envoy-ai-gateway front door serves every route; name this model's, e.g. "
                      "envoy_cluster_name=\"httproute/nim/<route>/rule/0\""),
            std::string::npos);
  EXPECT_NE(message({{"frontDoorPreset", "gie"}}).find("frontDoorPreset describes frontDoor, which is not set"),
            std::string::npos);
  EXPECT_NE(message({{"formula", "sum(frontdoor_waiting)"}})
                .find("formula reads frontdoor_waiting, which comes from "
                      "a front door: set frontDoor"),
            std::string::npos);
  EXPECT_NE(message({{"frontDoor", "keda/interceptor:2223"},
                     {"frontDoorPreset", "http-add-on"},
                     {"frontDoorLabels", "route_name=\"llama\""},
                     {"formula", "sum(frontdoor_waiting)"}})
                .find("formula reads frontdoor_waiting, which frontDoorPreset http-add-on does not provide (the "
                      "interceptor counts held and proxied requests together: frontdoor_inflight)"),
            std::string::npos);
  EXPECT_NE(
      message({{"frontDoor", "http://user:pw@gw:19001/"}, {"frontDoorPreset", "gie"}}).find("carries credentials"),
      std::string::npos);
  EXPECT_NE(message({{"frontDoor", "Keda/Interceptor"}, {"frontDoorPreset", "gie"}})
                .find("is neither an http(s) URL nor [namespace/]Service[:port]"),
            std::string::npos);
  EXPECT_NE(message({{"frontDoorPreset", "envoy"}, {"frontDoor", "gw"}}).find("envoy-ai-gateway"), std::string::npos)
      << "an unknown preset gets the list (and a did-you-mean)";

  // A Service in another namespace, port from the preset; a URL keeps its own path and port.
  auto svc = build({{"frontDoor", "keda/keda-add-ons-http-interceptor-metrics"},
                    {"frontDoorPreset", "http-add-on"},
                    {"frontDoorLabels", R"(route_name="llama",route_namespace="nim")"}});
  ASSERT_TRUE(svc.ok()) << svc.status().message();
  ASSERT_TRUE((*svc)->front_door.has_value());
  EXPECT_EQ((*svc)->front_door->discovery.Describe(), "Service keda/keda-add-ons-http-interceptor-metrics port 2223");
  EXPECT_EQ((*svc)->front_door->discovery.path, "/metrics");
  EXPECT_EQ((*svc)->scrape.signals, (std::vector<std::string>{"waiting", "running", "kv_cache"}))
      << "front-door signals are not asked of the pods";
  auto url = build({{"frontDoor", "http://epp.nim:9091/custom"}, {"frontDoorPreset", "llm-d"}});
  ASSERT_TRUE(url.ok()) << url.status().message();
  EXPECT_EQ(url.value()->front_door->discovery.Describe(), "DNS epp.nim port 9091");
  EXPECT_EQ(url.value()->front_door->discovery.path, "/custom");
  // --namespaces limits where a front door may be read from, as for the pods.
  opts.namespaces = {"nim"};
  EXPECT_NE(message({{"frontDoor", "keda/interceptor"},
                     {"frontDoorPreset", "http-add-on"},
                     {"frontDoorLabels", "route_name=\"llama\""}})
                .find("frontDoor: namespace \"keda\" is not in this server's --namespaces allow-list"),
            std::string::npos);
}

TEST(WakeMetadata, WakeQueryNeedsPrometheusAddress) {
  auto s = trigger::BuildScalerSpec("nim", "llama", {{"service", "llama"}, {"wakeQuery", "sum(x)"}}, {});
  EXPECT_NE(s.status().message().find("wakeQuery needs prometheusAddress"), std::string::npos);
  auto t = trigger::BuildScalerSpec(
      "nim", "llama", {{"service", "llama"}, {"wakeQuery", "sum(x)"}, {"prometheusAddress", "prometheus:9090"}}, {});
  EXPECT_NE(t.status().message().find("must be an http(s) URL"), std::string::npos);
}

}  // namespace
}  // namespace nimscaler
