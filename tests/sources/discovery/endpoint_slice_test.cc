// Kubernetes discovery against a loopback fake API server with the real API's shapes, and
// the collection policies that depend on it (docs/operations.md "What KEDA gets, and when", issue acceptance).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <thread>

#include "scaler/engine/scaler_engine.h"
#include "scaler/sources/discovery/discovery_registry.h"
#include "tests/fakes/eventually.h"
#include "tests/fakes/fake_kube_api.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/testdata.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using sources::SliceEndpoint;
using ::testing::HasSubstr;

using testing::Eventually;

std::vector<std::string> Ready(const Result<std::vector<SliceEndpoint>>& eps) {
  std::vector<std::string> out;
  if (!eps.ok()) return out;
  for (const auto& e : *eps) {
    if (e.ready && !e.terminating) out.push_back(e.pod + "@" + e.address + ":" + std::to_string(e.ports.at("http")));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Service nim/llama, its port named http, NIM's metrics path.
sources::DiscoveryConfig LlamaService() {
  sources::DiscoveryConfig cfg;
  cfg.kind = sources::DiscoveryConfig::Kind::kService;
  cfg.ns = "nim";
  cfg.service = "llama";
  cfg.port = "http";
  cfg.path = "/v1/metrics";
  return cfg;
}

class DiscoveryTest : public ::testing::Test {
 protected:
  testing::FakeKubeApi api_{"nim", "llama"};
  std::shared_ptr<net::HttpClient> http_ = net::MakeCurlHttpClient();
  sources::DiscoveryRegistry registry_{sources::KubeApiConfig{api_.url(), "", ""}, http_};
};

TEST_F(DiscoveryTest, ListsThenFollowsWatchEvents) {
  api_.SetPod("p0", "10.0.0.1", 8000, true);
  auto watch = registry_.WatchFor("nim", "llama");
  ASSERT_TRUE(Eventually([&] { return Ready(watch->Endpoints()).size() == 1; }, 3s));
  api_.SetPod("p1", "10.0.0.2", 8001, false);  // starting: listed, not ready
  ASSERT_TRUE(Eventually([&] { return watch->Endpoints()->size() == 2; }, 3s));
  EXPECT_EQ(Ready(watch->Endpoints()), std::vector<std::string>{"p0@10.0.0.1:8000"});
  api_.SetPod("p1", "10.0.0.2", 8001, true);  // becomes ready
  ASSERT_TRUE(Eventually([&] { return Ready(watch->Endpoints()).size() == 2; }, 3s));
  api_.SetPod("p0", "10.0.0.1", 8000, false, /*terminating=*/true);
  ASSERT_TRUE(
      Eventually([&] { return Ready(watch->Endpoints()) == std::vector<std::string>{"p1@10.0.0.2:8001"}; }, 3s));
  api_.DeletePod("p0");
  ASSERT_TRUE(Eventually([&] { return watch->Endpoints()->size() == 1; }, 3s));
  EXPECT_EQ(api_.lists(), 1) << "events must come from the watch, not from re-listing";
  api_.SendBookmark();
  api_.CloseWatches();  // the server ends the watch: we resume from the bookmark's version
  api_.SetPod("p2", "10.0.0.3", 8002, true);
  ASSERT_TRUE(Eventually([&] { return Ready(watch->Endpoints()).size() == 2; }, 3s));
  EXPECT_EQ(api_.lists(), 1);
  EXPECT_GE(api_.watches(), 2);
}

TEST_F(DiscoveryTest, RelistsOn410Gone) {
  api_.SetPod("p0", "10.0.0.1", 8000, true);
  auto watch = registry_.WatchFor("nim", "llama");
  ASSERT_TRUE(Eventually([&] { return Ready(watch->Endpoints()).size() == 1; }, 3s));
  api_.SetPod("p1", "10.0.0.2", 8001, true);
  api_.Compact();       // history before now is gone
  api_.CloseWatches();  // the next watch resumes from an old version: 410
  ASSERT_TRUE(Eventually([&] { return api_.lists() >= 2; }, 3s));
  ASSERT_TRUE(Eventually([&] { return Ready(watch->Endpoints()).size() == 2; }, 3s));
  EXPECT_GE(watch->relists(), 1u);
}

TEST_F(DiscoveryTest, OneWatchPerServiceSharedByEveryReader) {
  auto a = registry_.WatchFor("nim", "llama");
  auto b = registry_.WatchFor("nim", "llama");
  EXPECT_EQ(a.get(), b.get());
  sources::DiscoveryConfig cfg = LlamaService();
  api_.SetPod("p0", "10.0.0.1", 8123, true);
  auto d = registry_.Make(cfg);
  ASSERT_TRUE(d.ok());
  Result<std::vector<sources::PodEndpoint>> pods = Unavailable("not yet");
  ASSERT_TRUE(Eventually(
      [&] {
        pods = (*d)->List();
        return pods.ok() && pods->size() == 1;
      },
      3s));
  EXPECT_EQ((*pods)[0].url, "http://10.0.0.1:8123/v1/metrics");  // named port resolved per slice
  EXPECT_EQ((*pods)[0].name, "p0");
  cfg.port = "metrics";
  auto wrong = registry_.Make(cfg);
  auto listed = (*wrong)->List();
  EXPECT_EQ(listed.status().code(), Code::kFailedPrecondition);
  EXPECT_THAT(listed.status().message(), HasSubstr("no port named \"metrics\""));
  EXPECT_THAT(listed.status().message(), HasSubstr("they have: http"));
}

// The API lets one endpoint sit in two slices for a while (as slices are rebalanced). It is one
// pod: listed once, ready when either copy says so, terminating only when both do.
TEST_F(DiscoveryTest, AnEndpointInTwoSlicesIsOnePod) {
  sources::DiscoveryConfig cfg = LlamaService();
  api_.SetPod("p0", "10.0.0.1", 8000, true);
  api_.SetPod("p0-moved", "10.0.0.1", 8000, false);  // the same address in a second slice, not ready there
  api_.SetPod("p1", "10.0.0.2", 8000, false, /*terminating=*/true);
  api_.SetPod("p1-moved", "10.0.0.2", 8000, false, /*terminating=*/true);
  auto d = registry_.Make(cfg);
  ASSERT_TRUE(d.ok());
  Result<std::vector<sources::PodEndpoint>> pods = Unavailable("not yet");
  ASSERT_TRUE(Eventually(
      [&] {
        pods = (*d)->List();
        return pods.ok() && (pods->size() == 2 || pods->size() == 4);
      },
      3s));
  ASSERT_EQ(pods->size(), 2u);
  std::map<std::string, sources::PodEndpoint> by_url;
  for (const auto& p : *pods) by_url[p.url] = p;
  EXPECT_TRUE(by_url["http://10.0.0.1:8000/v1/metrics"].ready);
  EXPECT_FALSE(by_url["http://10.0.0.1:8000/v1/metrics"].terminating);
  EXPECT_FALSE(by_url["http://10.0.0.2:8000/v1/metrics"].ready);
  EXPECT_TRUE(by_url["http://10.0.0.2:8000/v1/metrics"].terminating);
}

TEST_F(DiscoveryTest, TokenRotationIsPickedUpWithoutRestart) {
  std::string token_file = ::testing::TempDir() + "/token";
  std::ofstream(token_file) << "token-one\n";
  api_.RequireToken("token-one");
  sources::DiscoveryRegistry registry(sources::KubeApiConfig{api_.url(), token_file, ""}, http_);
  api_.SetPod("p0", "10.0.0.1", 8000, true);
  auto watch = registry.WatchFor("nim", "llama");
  ASSERT_TRUE(Eventually([&] { return Ready(watch->Endpoints()).size() == 1; }, 3s));
  // The kubelet rotates the projected token; the API server stops accepting the old one.
  std::ofstream(token_file) << "token-two\n";
  api_.RequireToken("token-two");
  api_.CloseWatches();
  api_.SetPod("p1", "10.0.0.2", 8001, true);
  ASSERT_TRUE(Eventually([&] { return Ready(watch->Endpoints()).size() == 2; }, 5s)) << watch->LastError();
  EXPECT_EQ(api_.unauthorized(), 0) << "the token file must be re-read for every request";
}

TEST_F(DiscoveryTest, UnauthorizedIsReportedAndRetriedWithBackoff) {
  api_.RequireToken("secret");
  auto watch = registry_.WatchFor("nim", "llama");
  ASSERT_TRUE(Eventually([&] { return !watch->LastError().empty(); }, 3s));
  auto eps = watch->Endpoints();
  EXPECT_EQ(eps.status().code(), Code::kUnavailable);
  EXPECT_THAT(eps.status().message(), HasSubstr("HTTP 401"));
  std::this_thread::sleep_for(1200ms);
  EXPECT_LE(api_.unauthorized(), 3) << "retries must back off, not spin";
}

// --- collection over discovered pods -------------------------------------------------

std::string PodBody(double kv, double waiting) {
  return testing::WithSample(testing::WithSample(testing::NimCapture(), "gpu_cache_usage_perc", std::to_string(kv)),
                             "num_requests_waiting", std::to_string(waiting));
}

class CollectionTest : public DiscoveryTest {
 protected:
  CollectionTest() {
    engine_ = std::make_unique<engine::ScalerEngine>(trigger::SpecOptions{.min_scrape_interval = 100ms},
                                                     engine::EngineDeps{http_, &registry_, &clock_, nullptr}, 10min);
  }
  std::shared_ptr<engine::TrackedObject> Track() {
    auto obj = engine_->Resolve("nim", "llama",
                                {{"service", "llama"},
                                 {"port", "http"},
                                 {"engine", "nim"},
                                 {"targetKvCache", "0.1"},
                                 {"scrapeInterval", "200ms"},
                                 {"window", "400ms"},
                                 {"panicWindow", "200ms"}});
    EXPECT_TRUE(obj.ok()) << obj.status().message();
    return *obj;
  }
  static double Value(const std::shared_ptr<engine::TrackedObject>& obj) {
    auto ev = obj->Latest();
    return ev->status.ok() ? ev->value : -1;
  }
  void AddPod(const std::string& name, testing::FakePod& pod, bool ready) {
    int port = std::stoi(pod.url().substr(pod.url().rfind(':') + 1));
    api_.SetPod(name, "127.0.0.1", port, ready);
  }

  SystemClock clock_;
  std::unique_ptr<engine::ScalerEngine> engine_;
};

TEST_F(CollectionTest, ReadyPodIsScrapedWithinOneIntervalTerminatingPodIsDropped) {
  testing::FakePod a(PodBody(0.2, 0)), b(PodBody(0.3, 0));
  AddPod("a", a, true);
  auto obj = Track();
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 2.0; }, 3s)) << Value(obj);
  AddPod("b", b, false);  // starting: not scraped, counted in pods
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(b.requests(), 0);
  EXPECT_EQ(Value(obj), 2.0);
  EXPECT_EQ(obj->Latest()->signals.at("pods"), 2);
  EXPECT_EQ(obj->Latest()->signals.at("replicas"), 1);
  AddPod("b", b, true);
  auto became_ready = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return b.requests() > 0; }, 2s));
  EXPECT_LE(std::chrono::steady_clock::now() - became_ready, 200ms + 300ms) << "scraped within one interval (+ slack)";
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 5.0; }, 2s)) << Value(obj);
  api_.SetPod("a", "127.0.0.1", std::stoi(a.url().substr(a.url().rfind(':') + 1)), false, /*terminating=*/true);
  int before = a.requests();
  ASSERT_TRUE(Eventually([&] { return obj->Latest()->signals.at("replicas") == 1; }, 2s));
  std::this_thread::sleep_for(500ms);
  EXPECT_LE(a.requests(), before + 1) << "a terminating pod is no longer scraped";
}

TEST_F(CollectionTest, KillingOneOfThreePodsNeverLowersTheValueAllDeadIsUnavailable) {
  testing::FakePod a(PodBody(0.2, 0)), b(PodBody(0.2, 0)), c(PodBody(0.2, 0));
  AddPod("a", a, true);
  AddPod("b", b, true);
  AddPod("c", c, true);
  auto obj = Track();
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 6.0; }, 3s)) << Value(obj);
  c.Stop();  // dead, but still listed as ready (the kubelet has not noticed yet)
  double lowest = 100;
  for (int i = 0; i < 20; ++i) {  // 2 s = 10 cycles: past the 3 x interval keep period
    lowest = std::min(lowest, Value(obj));
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(lowest, 6.0) << "a missing pod must never lower the answer";
  ASSERT_TRUE(obj->Latest()->status.ok());
  a.Stop();
  b.Stop();
  ASSERT_TRUE(Eventually([&] { return obj->Latest()->status.code() == Code::kUnavailable; }, 3s));
  EXPECT_THAT(obj->Latest()->status.message(), HasSubstr("no ready pod answered"));
  EXPECT_THAT(obj->Latest()->status.message(), HasSubstr("3 pods"));
}

TEST_F(CollectionTest, ScaledToZeroIsZeroAndInactiveNotAnError) {
  auto obj = Track();
  ASSERT_TRUE(Eventually([&] { return obj->HasCompletedCycle(); }, 3s));
  auto ev = obj->Latest();
  ASSERT_TRUE(ev->status.ok()) << ev->status.message();
  EXPECT_EQ(ev->value, 0);
  EXPECT_FALSE(ev->active);
}

TEST_F(CollectionTest, StartingPodsOnlyHoldTheLastAnswer) {
  testing::FakePod a(PodBody(0.2, 0));
  AddPod("a", a, true);
  auto obj = Track();
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 2.0; }, 3s));
  api_.SetPod("a", "127.0.0.1", std::stoi(a.url().substr(a.url().rfind(':') + 1)), false);  // not ready
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(Value(obj), 2.0);
  EXPECT_TRUE(obj->Latest()->held);
}

}  // namespace
}  // namespace nimscaler

namespace nimscaler {
namespace {

TEST_F(CollectionTest, TriggersReadingTheSamePodsShareOneScrapePerCycle) {
  testing::FakePod a(PodBody(0.2, 4));
  AddPod("a", a, true);
  auto kv = Track();  // targetKvCache 0.1 on Service llama
  auto waiting = engine_->Resolve("nim", "llama",
                                  {{"service", "llama"},
                                   {"port", "http"},
                                   {"engine", "nim"},
                                   {"targetWaiting", "2"},
                                   {"scrapeInterval", "200ms"},
                                   {"window", "400ms"},
                                   {"panicWindow", "200ms"}});
  ASSERT_TRUE(waiting.ok()) << waiting.status().message();
  EXPECT_EQ(engine_->collection_groups(), 1u);
  ASSERT_TRUE(Eventually([&] { return Value(kv) == 2.0 && Value(*waiting) == 2.0; }, 3s))
      << Value(kv) << " " << Value(*waiting) << " " << (*waiting)->Latest()->status.message();
  int before = a.requests();
  std::this_thread::sleep_for(1000ms);  // ~5 cycles of 200 ms
  int per_second = a.requests() - before;
  EXPECT_GE(per_second, 3);
  EXPECT_LE(per_second, 7) << "two triggers on the same pods must not double the scrapes (" << per_second << ")";
  // A different interval is a different schedule: its own group.
  auto slower = engine_->Resolve("nim", "llama",
                                 {{"service", "llama"},
                                  {"port", "http"},
                                  {"engine", "nim"},
                                  {"scrapeInterval", "1s"},
                                  {"window", "2s"},
                                  {"panicWindow", "1s"}});
  EXPECT_TRUE(slower.ok()) << slower.status().message();
  ASSERT_TRUE(slower.ok());
  EXPECT_EQ(engine_->collection_groups(), 2u);
}

TEST_F(CollectionTest, TriggersNobodyAskedAboutAreForgotten) {
  testing::FakePod a(PodBody(0.2, 0));
  AddPod("a", a, true);
  auto obj = Track();
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 2.0; }, 3s));
  EXPECT_EQ(engine_->ForgetIdle(clock_.Now() + 5min), 0u);   // asked about recently: kept
  EXPECT_EQ(engine_->ForgetIdle(clock_.Now() + 11min), 1u);  // 10 minutes without a request
  EXPECT_TRUE(engine_->List().empty());
  EXPECT_EQ(engine_->collection_groups(), 0u);
  int before = a.requests();
  std::this_thread::sleep_for(500ms);
  EXPECT_LE(a.requests(), before + 1) << "a forgotten trigger is no longer scraped";
}

TEST_F(CollectionTest, AnOpenStreamKeepsItsTriggerTrackedWithoutRequests) {
  testing::FakePod a(PodBody(0.2, 0));
  AddPod("a", a, true);
  auto obj = Track();
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 2.0; }, 3s));
  uint64_t stream = obj->Subscribe([] {});                   // what a StreamIsActive stream does
  EXPECT_EQ(engine_->ForgetIdle(clock_.Now() + 11min), 0u);  // no request for 11 min, stream open
  EXPECT_EQ(engine_->ForgetIdle(clock_.Now() + 40min), 0u);
  EXPECT_EQ(engine_->List().size(), 1u);
  obj->Unsubscribe(stream);
  // the stream counted as a request until its last check (40 min): idle from there
  EXPECT_EQ(engine_->ForgetIdle(clock_.Now() + 45min), 0u);
  EXPECT_EQ(engine_->ForgetIdle(clock_.Now() + 51min), 1u);
  EXPECT_TRUE(engine_->List().empty());
}

}  // namespace
}  // namespace nimscaler

namespace nimscaler {
namespace {

TEST(DnsDiscovery, EveryAddressOfTheNameWithThePortAndPath) {
  sources::DiscoveryConfig cfg;
  cfg.kind = sources::DiscoveryConfig::Kind::kDns;
  cfg.dns_name = "localhost";
  cfg.port = "8123";
  cfg.path = "/metrics";
  sources::DnsDiscovery dns(cfg);
  auto pods = dns.List();
  ASSERT_TRUE(pods.ok()) << pods.status().message();
  std::vector<std::string> urls;
  for (const auto& p : *pods) urls.push_back(p.url);
  EXPECT_NE(std::find(urls.begin(), urls.end(), "http://127.0.0.1:8123/metrics"), urls.end());
  for (const auto& u : urls) EXPECT_TRUE(u == "http://127.0.0.1:8123/metrics" || u == "http://[::1]:8123/metrics") << u;
  cfg.dns_name = "no-such-host.invalid";
  auto none = sources::DnsDiscovery(cfg).List();
  EXPECT_EQ(none.status().code(), Code::kUnavailable);
  EXPECT_NE(none.status().message().find("dnsName no-such-host.invalid"), std::string::npos);
}

}  // namespace
}  // namespace nimscaler
