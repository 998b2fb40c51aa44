// Issue 14 item 1 against a real Prometheus (Debian's) scraping the real `nim-scaler serve` with
// the scrape settings the chart's ServiceMonitor renders to (honor_labels: true; the target's
// own namespace and job labels). Two triggers of one ScaledObject (distinct metricName) and a
// ScaledObject in another namespace: queries by namespace and trigger return exactly their
// series, and a forgotten trigger's series leave while its sibling's stay.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "externalscaler.grpc.pb.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/prometheus_server.h"
#include "tests/fakes/testdata.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::FakePod;
using testing::PrometheusServer;

externalscaler::ScaledObjectRef Ref(const std::string& ns, const std::string& name, const std::string& metric,
                                    const std::string& url) {
  externalscaler::ScaledObjectRef ref;
  ref.set_namespace_(ns);
  ref.set_name(name);
  auto& md = *ref.mutable_scalermetadata();
  md["endpoints"] = url;
  md["engine"] = "nim";
  md["targetKvCache"] = "0.1";
  md["scrapeInterval"] = "500ms";
  md["window"] = "1s";
  md["metricName"] = metric;
  return ref;
}

// The `trigger` labels of `expr`'s series, sorted.
std::set<std::string> Triggers(PrometheusServer& prom, const std::string& expr) {
  std::set<std::string> out;
  nlohmann::json data = prom.Query(expr);  // kept: a range-for over a temporary's member dangles
  for (const auto& r : data["result"]) out.insert(r["metric"].value("trigger", "?"));
  return out;
}

TEST(MetricsInPrometheus, SeriesKeepTheirNamespaceAndTriggerAndLeaveOneByOne) {
  if (!PrometheusServer::Available()) GTEST_SKIP() << "/usr/bin/prometheus is not installed (Debian: prometheus)";
  FakePod pod(testing::WithSample(testing::NimCapture(), "gpu_cache_usage_perc", "0.208"));
  ChildProcess server({std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler", "serve", "--grpc-addr",
                       "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--allow-static-endpoints",
                       "--min-scrape-interval", "100ms", "--forget-after", "3s"});
  auto m = server.WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
  ASSERT_FALSE(m.empty()) << server.output();
  auto stub = externalscaler::ExternalScaler::NewStub(
      grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
  // What the ServiceMonitor gives: job = the chart's Service, namespace = the scaler's own.
  PrometheusServer prom({"127.0.0.1:" + m[2].str()}, "/metrics", "1s",
                        {.name = "nim-scaler", .honor_labels = true, .target_labels = {{"namespace", "nim-scaler"}}});
  std::vector<externalscaler::ScaledObjectRef> refs = {Ref("team-a", "llama", "llama-kv", pod.url()),
                                                      Ref("team-a", "llama", "llama-queue", pod.url()),
                                                      Ref("team-b", "mistral", "mistral-kv", pod.url())};
  auto ask = [&](std::vector<size_t> which) {  // KEDA asking about these triggers
    for (size_t i : which) {
      grpc::ClientContext ctx;
      externalscaler::GetMetricSpecResponse r;
      EXPECT_TRUE(stub->GetMetricSpec(&ctx, refs[i], &r).ok());
    }
  };
  ask({0, 1, 2});
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         Triggers(prom, "nimscaler_scaledobject_desired_replicas").size() < 3) {
    ask({0, 1, 2});
    server.output();  // drain the log pipe
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_EQ(Triggers(prom, R"(nimscaler_scaledobject_desired_replicas{namespace="team-a"})"),
            (std::set<std::string>{"llama-kv", "llama-queue"}));
  EXPECT_EQ(Triggers(prom, R"(nimscaler_scaledobject_desired_replicas{namespace="team-b"})"),
            (std::set<std::string>{"mistral-kv"}));
  EXPECT_EQ(Triggers(prom, R"(nimscaler_scaledobject_desired_replicas{namespace="nim-scaler"})"),
            std::set<std::string>{})
      << "the scaler's own namespace does not replace the ScaledObject's";
  EXPECT_TRUE(prom.Query(R"(nimscaler_scaledobject_desired_replicas{exported_namespace!=""})")["result"].empty());
  nlohmann::json queue = prom.Query(R"(nimscaler_scaledobject_desired_replicas{trigger="llama-queue"})");
  const auto& value = queue["result"];
  ASSERT_EQ(value.size(), 1u);
  EXPECT_EQ(value[0]["value"][1], "2.08");
  // KEDA stops asking about llama-queue: after --forget-after its series leave; its sibling's stay.
  deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         Triggers(prom, R"(nimscaler_scaledobject_desired_replicas{namespace="team-a"})").count("llama-queue")) {
    ask({0, 2});
    server.output();
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_EQ(Triggers(prom, R"(nimscaler_scaledobject_desired_replicas{namespace="team-a"})"),
            (std::set<std::string>{"llama-kv"}));
  EXPECT_EQ(Triggers(prom, R"(nimscaler_scaledobject_signal{namespace="team-a",signal="kv_cache"})"),
            (std::set<std::string>{"llama-kv"}));
  EXPECT_EQ(Triggers(prom, R"(nimscaler_scaledobject_desired_replicas{namespace="team-b"})"),
            (std::set<std::string>{"mistral-kv"}));
}

}  // namespace
}  // namespace nimscaler
