// EndpointSliceWatch against an API server that sends malformed documents, a client that
// throws, and hundreds of watches held open at shutdown (issue 19 items 3 and 11). The API
// server is tests/sources/discovery/scripted_kube_api.h on loopback; requests go through the real
// libcurl client.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "scaler/sources/discovery/discovery_registry.h"
#include "scaler/sources/discovery/endpoint_slice_watch.h"
#include "tests/fakes/eventually.h"
#include "tests/sources/discovery/scripted_kube_api.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

using testing::Eventually;

json Slice(const std::string& name, const std::string& ip, const std::string& rv = "5") {
  return {{"metadata", {{"name", name}, {"resourceVersion", rv}}},
          {"endpoints", {{{"addresses", {ip}}, {"conditions", {{"ready", true}}}, {"targetRef", {{"name", name}}}}}},
          {"ports", {{{"name", "http"}, {"port", 8000}}}}};
}

std::string List(std::vector<json> items, const std::string& rv = "10") {
  return json{{"kind", "EndpointSliceList"}, {"metadata", {{"resourceVersion", rv}}}, {"items", items}}.dump();
}

std::vector<std::string> Addresses(const sources::EndpointSliceWatch& w) {
  std::vector<std::string> out;
  auto eps = w.Endpoints();
  if (!eps.ok()) return out;
  for (const auto& e : *eps) out.push_back(e.address);
  std::sort(out.begin(), out.end());
  return out;
}

class WatchHardeningTest : public ::testing::Test {
 protected:
  std::shared_ptr<sources::EndpointSliceWatch> Watch(const std::string& service = "llama") {
    return std::make_shared<sources::EndpointSliceWatch>(sources::KubeApiConfig{api_.url(), "", ""}, http_, "nim",
                                                         service);
  }
  testing::ScriptedKubeApi api_;
  std::shared_ptr<net::HttpClient> http_ = net::MakeCurlHttpClient();
};

// Issue 19 item 3: each of these lists made the old watch thread throw (nlohmann type_error)
// and abort the process. Now: an error naming the place, the process runs on, and the next
// good list is taken.
TEST_F(WatchHardeningTest, MalformedListsAreReportedAndTheNextGoodListIsTaken) {
  json item_number = json::parse(List({Slice("a", "10.0.0.1")}));
  item_number["items"].push_back(5);
  json endpoint_string = json::parse(List({Slice("a", "10.0.0.1")}));
  endpoint_string["items"][0]["endpoints"][0] = "10.0.0.1";
  json endpoints_string = json::parse(
      List({Slice("a", "10.0.0.1"), Slice("b", "10.0.0.2"), Slice("c", "10.0.0.3"), Slice("d", "10.0.0.4")}));
  endpoints_string["items"][3]["endpoints"] = "10.0.0.4";
  json conditions_list = json::parse(List({Slice("a", "10.0.0.1")}));
  conditions_list["items"][0]["endpoints"][0]["conditions"] = json::array({1});
  json huge = json::parse(List({}));
  huge["items"] = std::vector<json>(20000, json::object());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"kind":"EndpointSliceList","items":[]})", "EndpointSliceList: 'metadata' is missing"},
      {item_number.dump(), "EndpointSliceList item 1: is not an object"},
      {endpoint_string.dump(), "EndpointSliceList item 0 endpoint 0: is not an object"},
      {endpoints_string.dump(), "EndpointSliceList item 3: 'endpoints' is not an array"},
      {conditions_list.dump(), "EndpointSliceList item 0 endpoint 0: 'conditions' is not an object"},
      {huge.dump(), "EndpointSliceList: 'items' has 20000 entries (at most 10000)"},
      {std::string(3000, '['), "EndpointSliceList: nested deeper than 64 levels"},
      {"<html>proxy error</html>", "EndpointSliceList: not valid JSON"},
  };
  for (const auto& [body, want] : cases) {
    SCOPED_TRACE(want);
    api_.SetList(body);
    auto watch = Watch();
    ASSERT_TRUE(Eventually([&] { return !watch->LastError().empty(); }, 3s));
    EXPECT_THAT(watch->LastError(), HasSubstr(want));
    auto eps = watch->Endpoints();
    EXPECT_EQ(eps.status().code(), Code::kUnavailable);
    EXPECT_THAT(eps.status().message(), HasSubstr(want));
    api_.SetList(List({Slice("a", "10.0.0.1")}));  // the API is sane again
    ASSERT_TRUE(Eventually([&] { return Addresses(*watch) == std::vector<std::string>{"10.0.0.1"}; }, 3s))
        << watch->LastError();
    EXPECT_EQ(watch->LastError(), "");
  }
}

// Issue 19 item 3, watch events: a malformed line ends the watch with the error, and the
// watch lists again (the cache may have missed a change) instead of resuming into the same
// bad event; the state after the good list is served.
TEST_F(WatchHardeningTest, MalformedWatchEventsAreReportedAndFollowedByAFreshList) {
  api_.SetList(List({Slice("a", "10.0.0.1")}));
  json good_add = {{"type", "ADDED"}, {"object", Slice("b", "10.0.0.2", "11")}};
  api_.SetWatchLines({good_add.dump(), R"({"type":"MODIFIED","object":{"metadata":{"name":"a"},"endpoints":[7]}})"});
  auto watch = Watch();
  ASSERT_TRUE(Eventually([&] { return !watch->LastError().empty(); }, 3s));
  EXPECT_THAT(watch->LastError(), HasSubstr("watch event MODIFIED object endpoint 0: is not an object"));
  EXPECT_TRUE(watch->Endpoints().ok()) << "the last good state is still served";
  EXPECT_GE(watch->relists(), 1u);
  // Every later watch gets a line that is not JSON at all, and the fields in bad types.
  api_.SetWatchLines({"garbage\x01\xff"});
  ASSERT_TRUE(Eventually([&] { return watch->LastError().find("not valid JSON") != std::string::npos; }, 5s))
      << watch->LastError();
  api_.SetWatchLines({R"({"type":"ADDED","object":{"metadata":{"name":5}}})"});
  ASSERT_TRUE(Eventually([&] { return watch->LastError().find("'name' is not a string") != std::string::npos; }, 6s))
      << watch->LastError();
  int lists_before = api_.lists();
  api_.SetWatchLines({});
  api_.SetList(List({Slice("a", "10.0.0.1"), Slice("c", "10.0.0.3")}));
  ASSERT_TRUE(Eventually(
      [&] {
        return Addresses(*watch) == std::vector<std::string>{"10.0.0.1", "10.0.0.3"};
      },
      10s))
      << watch->LastError();
  EXPECT_GT(api_.lists(), lists_before);
  EXPECT_EQ(watch->LastError(), "");
  // And the watch works normally afterwards: once it is open again (the relist above may still be
  // reconnecting it, and a pushed line reaches only open watches), a pushed event arrives.
  ASSERT_TRUE(Eventually([&] { return api_.open_watches() >= 1; }, 3s));
  api_.Push(json{{"type", "ADDED"}, {"object", Slice("d", "10.0.0.4", "12")}}.dump());
  ASSERT_TRUE(Eventually([&] { return Addresses(*watch).size() == 3; }, 3s)) << watch->LastError();
}

// An HttpClient that throws from every call: the watch thread must report it and retry, not
// let the exception reach std::terminate (issue 19 item 3: no exception escapes the thread).
class ThrowingHttpClient final : public net::HttpClient {
 public:
  Result<net::HttpResponse> Get(const std::string&, const net::HttpRequestOptions&) override {
    calls.fetch_add(1);
    throw std::runtime_error("boom from the client");
  }
  Result<net::HttpResponse> Stream(const std::string&, const net::HttpRequestOptions&,
                                   const std::function<bool(std::string_view)>&) override {
    calls.fetch_add(1);
    throw std::runtime_error("boom from the stream");
  }
  std::atomic<int> calls{0};
};

TEST(WatchThread, AnExceptionBelowIsReportedAndRetriedNotFatal) {
  auto http = std::make_shared<ThrowingHttpClient>();
  sources::EndpointSliceWatch watch(sources::KubeApiConfig{"http://127.0.0.1:1", "", ""}, http, "nim", "llama");
  ASSERT_TRUE(Eventually([&] { return http->calls.load() >= 2; }, 5s)) << "retried after the exception";
  EXPECT_THAT(watch.LastError(), HasSubstr("internal error: boom from the client"));
  EXPECT_EQ(watch.Endpoints().status().code(), Code::kUnavailable);
}

// Issue 19 item 11: with many watched Services, shutdown took the sum of every watch's stop
// time (49 s for 1,000) because each watch was joined before the next was even signalled.
// 200 watches hold their long-polls open; dropping them all and stopping the registry must
// take about one watch's stop time. (The old code needed ~50 ms per watch, ~10 s here.)
TEST_F(WatchHardeningTest, TwoHundredOpenWatchesStopTogether) {
  constexpr int kWatches = 200;
  api_.SetList(List({Slice("a", "10.0.0.1")}));
  auto registry = std::make_unique<sources::DiscoveryRegistry>(sources::KubeApiConfig{api_.url(), "", ""}, http_);
  std::vector<std::shared_ptr<sources::EndpointSliceWatch>> watches;
  for (int i = 0; i < kWatches; ++i) watches.push_back(registry->WatchFor("nim", "svc-" + std::to_string(i)));
  ASSERT_TRUE(Eventually([&] { return api_.open_watches() == kWatches; }, 30s)) << api_.open_watches();
  EXPECT_EQ(registry->watch_threads(), static_cast<size_t>(kWatches));

  auto t0 = std::chrono::steady_clock::now();
  watches.resize(kWatches / 2);  // half dropped one by one (ScaledObjects forgotten): no waiting
  auto dropped = std::chrono::steady_clock::now() - t0;
  registry->StopAll();  // the rest at shutdown
  auto total = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(dropped, 1s) << "dropping a watch must not wait for its thread";
  EXPECT_LT(total, 3s) << "stopping " << kWatches << " watches took "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(total).count() << " ms";
  EXPECT_EQ(registry->watch_threads(), 0u);
  EXPECT_TRUE(Eventually([&] { return api_.open_watches() == 0; }, 3s)) << "every long-poll was cancelled";
  // A watch made after StopAll() stops at once, and the registry still tears down cleanly.
  auto late = registry->WatchFor("nim", "late");
  watches.clear();
  late.reset();
  auto t1 = std::chrono::steady_clock::now();
  registry.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 2s);
}

// Lists that never answer (a hung API server) are cancelled too.
TEST_F(WatchHardeningTest, HungListsAreCancelledAtStop) {
  constexpr int kWatches = 50;
  api_.HoldLists(true);
  sources::DiscoveryRegistry registry(sources::KubeApiConfig{api_.url(), "", ""}, http_);
  std::vector<std::shared_ptr<sources::EndpointSliceWatch>> watches;
  for (int i = 0; i < kWatches; ++i) watches.push_back(registry.WatchFor("nim", "svc-" + std::to_string(i)));
  ASSERT_TRUE(Eventually([&] { return api_.lists() == kWatches; }, 20s)) << api_.lists();
  auto t0 = std::chrono::steady_clock::now();
  registry.StopAll();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 3s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_EQ(registry.watch_threads(), 0u);
}

// Watches whose Services are no longer read are reaped: their threads do not pile up.
TEST_F(WatchHardeningTest, DroppedWatchesThreadsAreReaped) {
  api_.SetList(List({}));
  sources::DiscoveryRegistry registry(sources::KubeApiConfig{api_.url(), "", ""}, http_);
  for (int i = 0; i < 20; ++i) {
    auto w = registry.WatchFor("nim", "short-" + std::to_string(i));
    std::this_thread::sleep_for(20ms);
  }                                    // each dropped at once
  std::this_thread::sleep_for(600ms);  // > the 100 ms cancel poll + a list's cancel
  auto keep = registry.WatchFor("nim", "kept");
  EXPECT_LE(registry.watch_threads(), 3u) << "finished threads are joined on the next WatchFor";
}

}  // namespace
}  // namespace nimscaler
