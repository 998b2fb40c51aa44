// The emulated cluster on loopback: pod servers, EndpointSlice list and watch (the exact
// Kubernetes paths and shapes nim-scaler's discovery reads), the control API.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "scaler/net/http_client.h"
#include "scaler/signals/exposition/parser.h"
#include "tools/nim-emulator/server.h"

namespace nimemu {
namespace {

const char* kPath =
    "/apis/discovery.k8s.io/v1/namespaces/nim/endpointslices"
    "?labelSelector=kubernetes.io%2Fservice-name%3Dmeta-llama3-8b";

EmulatorOptions Manual(int replicas) {
  EmulatorOptions o;
  o.manual_time = true;
  o.replicas = replicas;
  o.model.startup_delay_s = 10;
  return o;
}

TEST(KubeApi, ListsOneSlicePerPodWithItsOwnPort) {
  Emulator emu(Manual(2));
  ASSERT_TRUE(emu.Start());
  auto http = nimscaler::net::MakeCurlHttpClient();
  auto r = http->Get(emu.kube_url() + kPath, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r.value().status, 200);
  auto j = nlohmann::json::parse(r.value().body);
  EXPECT_EQ(j["apiVersion"], "discovery.k8s.io/v1");
  EXPECT_EQ(j["kind"], "EndpointSliceList");
  EXPECT_FALSE(j["metadata"]["resourceVersion"].get<std::string>().empty());
  ASSERT_EQ(j["items"].size(), 2u);
  std::set<int> ports;
  for (auto& s : j["items"]) {
    EXPECT_EQ(s["metadata"]["namespace"], "nim");
    EXPECT_EQ(s["metadata"]["labels"]["kubernetes.io/service-name"], "meta-llama3-8b");
    EXPECT_EQ(s["addressType"], "IPv4");
    ASSERT_EQ(s["endpoints"].size(), 1u);
    EXPECT_EQ(s["endpoints"][0]["addresses"][0], "127.0.0.1");
    EXPECT_EQ(s["endpoints"][0]["conditions"]["ready"], true);
    EXPECT_EQ(s["endpoints"][0]["targetRef"]["kind"], "Pod");
    EXPECT_EQ(s["ports"][0]["name"], "http");
    int port = s["ports"][0]["port"];
    ports.insert(port);
    // The port serves the pod's NIM metrics.
    auto m = http->Get("http://127.0.0.1:" + std::to_string(port) + "/v1/metrics", {});
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m.value().status, 200);
    EXPECT_NE(m.value().body.find("gpu_cache_usage_perc{model_name=\"meta/llama-3.1-8b-instruct\"}"),
              std::string::npos);
  }
  EXPECT_EQ(ports.size(), 2u);
  // Another Service: no items.
  auto other = http->Get(emu.kube_url() +
                             "/apis/discovery.k8s.io/v1/namespaces/nim/endpointslices"
                             "?labelSelector=kubernetes.io%2Fservice-name%3Dother",
                         {});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(nlohmann::json::parse(other.value().body)["items"].size(), 0u);
}

TEST(KubeApi, WatchStreamsAddedModifiedDeletedAndGone) {
  Emulator emu(Manual(1));
  ASSERT_TRUE(emu.Start());
  auto http = nimscaler::net::MakeCurlHttpClient();
  auto list = http->Get(emu.kube_url() + kPath, {});
  ASSERT_TRUE(list.ok());
  std::string rv = nlohmann::json::parse(list.value().body)["metadata"]["resourceVersion"];

  std::atomic<bool> cancel{false};
  std::string got;
  std::mutex mu;
  std::thread watcher([&] {
    nimscaler::net::HttpRequestOptions o;
    o.timeout = std::chrono::milliseconds(8000);
    o.cancel = &cancel;
    http->Stream(emu.kube_url() + kPath + "&watch=1&resourceVersion=" + rv + "&allowWatchBookmarks=true", o,
                 [&](std::string_view d) {
                   std::lock_guard<std::mutex> g(mu);
                   got.append(d);
                   return true;
                 });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  emu.With([](Cluster& c) { c.SetReplicas(2); });  // ADDED, not ready
  emu.AdvanceTo(11);                               // MODIFIED: ready
  emu.With([](Cluster& c) { c.SetReplicas(1); });  // newest goes: terminating, then DELETED
  emu.AdvanceTo(12);
  // Bounded wait for the events (5 s).
  std::vector<nlohmann::json> events;
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard<std::mutex> g(mu);
    events.clear();
    size_t pos = 0, nl;
    while ((nl = got.find('\n', pos)) != std::string::npos) {
      events.push_back(nlohmann::json::parse(got.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    int deleted = 0;
    for (auto& e : events) deleted += e["type"] == "DELETED";
    if (deleted) break;
  }
  cancel = true;
  watcher.join();
  std::vector<std::string> types;
  for (auto& e : events)
    if (e["type"] != "BOOKMARK") types.push_back(e["type"]);
  ASSERT_GE(types.size(), 3u);
  EXPECT_EQ(types.front(), "ADDED");
  EXPECT_EQ(types.back(), "DELETED");
  bool saw_ready = false;
  for (auto& e : events)
    if (e["type"] == "MODIFIED" && e["object"]["endpoints"][0]["conditions"]["ready"] == true) saw_ready = true;
  EXPECT_TRUE(saw_ready);
  for (auto& e : events) {
    if (e["type"] == "BOOKMARK") continue;
    EXPECT_EQ(e["object"]["kind"], "EndpointSlice");
    EXPECT_GT(std::stoull(e["object"]["metadata"]["resourceVersion"].get<std::string>()), std::stoull(rv));
  }

  // A resourceVersion older than the history: one ERROR event with a 410 Status.
  nimscaler::net::HttpRequestOptions o;
  o.timeout = std::chrono::milliseconds(3000);
  std::string gone;
  http->Stream(emu.kube_url() + kPath + "&watch=1&resourceVersion=1", o, [&](std::string_view d) {
    gone.append(d);
    return true;
  });
  auto ev = nlohmann::json::parse(gone.substr(0, gone.find('\n')));
  EXPECT_EQ(ev["type"], "ERROR");
  EXPECT_EQ(ev["object"]["code"], 410);
}

TEST(ControlApi, SetsLoadReplicasAndFaults) {
  Emulator emu(Manual(1));
  ASSERT_TRUE(emu.Start());
  // The control API takes POSTs; drive it through the same handlers via query strings.
  auto http = nimscaler::net::MakeCurlHttpClient();
  std::string base = "http://127.0.0.1:" + std::to_string(emu.control_port());
  auto st = http->Get(base + "/state", {});
  ASSERT_TRUE(st.ok());
  auto j = nlohmann::json::parse(st.value().body);
  EXPECT_EQ(j["pods"], 1);
  std::string pod = j["pod_list"][0]["name"];
  emu.With([](Cluster& c) { c.SetConcurrency(50); });
  emu.AdvanceTo(20);
  j = nlohmann::json::parse(http->Get(base + "/state", {}).value().body);
  EXPECT_EQ(j["concurrency"], 50);
  EXPECT_EQ(j["running"].get<int>() + j["waiting"].get<int>(), 50);
  // A dead pod refuses scrapes and leaves the ready endpoints.
  Faults dead;
  dead.dead = true;
  auto url = emu.ReadyPodUrls().at(0);
  emu.With([&](Cluster& c) { c.SetFaults(pod, dead); });
  EXPECT_TRUE(emu.ReadyPodUrls().empty());
  // The dead pod's listener is stopped off the simulation thread: give it a moment (bounded).
  bool refused = false;
  for (int i = 0; i < 60 && !refused; ++i) {
    auto r = http->Get(url, {});
    refused = !(r.ok() && r.value().status == 200);
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(refused) << "a dead pod must stop answering";
}

// Issue 18 item 4: the front door's queue over real HTTP, as nim-scaler's frontDoor with
// frontDoorPreset http-add-on reads it: 0 when idle, the held requests at zero replicas, then
// the same requests in flight once a pod is ready, 0 again when they are done.
TEST(FrontDoor, QueueFollowsHeldAndInFlightRequests) {
  Emulator emu(Manual(0));
  ASSERT_TRUE(emu.Start());
  auto http = nimscaler::net::MakeCurlHttpClient();
  auto read = [&]() -> double {
    auto r = http->Get(emu.frontdoor_url(), {});
    if (!r.ok() || r.value().status != 200) return -1;
    auto sel = nimscaler::exposition::ParseSelected(r.value().body, r.value().content_type,
                                                    {"interceptor_request_concurrency"});
    if (!sel.ok() || sel.value().series.size() != 1) return -2;
    const auto& s = sel.value().series[0];
    if (s.Label("route_name") != "meta-llama3-8b" || s.Label("route_namespace") != "nim") return -3;
    return s.value;
  };
  EXPECT_EQ(emu.frontdoor_url(), "http://127.0.0.1:" + std::to_string(emu.control_port()) + "/frontdoor/metrics");
  EXPECT_EQ(read(), 0);
  emu.With([](Cluster& c) { c.SetConcurrency(6); });
  emu.AdvanceTo(5);
  int held = 0;
  emu.With([&](Cluster& c) { held = c.View().held; });
  EXPECT_EQ(held, 6);
  EXPECT_EQ(read(), 6);
  emu.With([](Cluster& c) { c.SetReplicas(1); });  // ready at 15
  emu.AdvanceTo(14);
  EXPECT_EQ(read(), 6);
  emu.AdvanceTo(16);
  ClusterView v;
  emu.With([&](Cluster& c) { v = c.View(); });
  EXPECT_EQ(v.held, 0);
  EXPECT_EQ(v.running + v.waiting, 6);
  EXPECT_EQ(read(), 6);  // no longer held, still in flight through the front door
  emu.With([](Cluster& c) { c.SetConcurrency(0); });
  emu.AdvanceTo(30);  // 200 output tokens at about 5 ms each: done in a few seconds
  EXPECT_EQ(read(), 0);
}

}  // namespace
}  // namespace nimemu
