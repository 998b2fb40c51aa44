// The scaler's HTTP port (scaler/http/admin_server.cc) as a real AdminServer on loopback, in
// front of a real ScalerEngine collecting from loopback pods: issue 19 items 1 (/debug never
// throws), 4 (/metrics label values), 5 (wake hook names and token) and 8 (no starvation).
#include "scaler/http/admin_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "scaler/common/text.h"
#include "scaler/sources/discovery/discovery_registry.h"
#include "scaler/sources/discovery/kube_object_lookup.h"
#include "tests/fakes/eventually.h"
#include "tests/fakes/fake_kube_api.h"
#include "tests/net/raw_client.h"

namespace nimscaler::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nimscaler::testing::RawConn;
using nimscaler::testing::RawResponse;

std::chrono::milliseconds Since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

using testing::Eventually;

// Pod answers whose bytes reach error texts: the scrape reports a duplicate series with the
// series' text (cut at 200 bytes by Truncate), so these bodies repeat one series.
std::string Duplicated(const std::string& label_value) {
  std::string line = "num_requests_waiting{x=\"" + label_value + "\"} 1\n";
  return line + line;
}
// Not UTF-8 at all: a lone continuation byte, 0xFF, 0xFE and a truncated sequence.
const std::string kBadBytes = "\x80\xFF\xFE broken \xE2\x82";
// "é" (2 bytes) across the 200-byte cut: the series text starts with the 24 bytes
// `num_requests_waiting{x="`, so 175 ASCII bytes put the é at bytes 199-200.
const std::string kCutValue = std::string(175, 'a') + "\xC3\xA9" + std::string(30, 'b');

class AdminServerTest : public ::testing::Test {
 protected:
  AdminServerTest() {
    // Loopback "pods" and a "Prometheus" whose error answers carry the bytes above.
    pods_.Route("/bad-bytes/metrics", [](const net::HttpServerRequest&) {
      return net::HttpServerResponse{200, "text/plain; version=0.0.4", Duplicated(kBadBytes)};
    });
    pods_.Route("/cut/metrics", [](const net::HttpServerRequest&) {
      return net::HttpServerResponse{200, "text/plain; version=0.0.4", Duplicated(kCutValue)};
    });
    pods_.Route("/error/metrics", [](const net::HttpServerRequest&) {
      return net::HttpServerResponse{500, "text/plain", kBadBytes};
    });
    pods_.Route("/api/v1/query", [](const net::HttpServerRequest&) {
      return net::HttpServerResponse{500, "text/plain", kBadBytes + kCutValue};
    });
    pods_.Route("/ok/metrics", [](const net::HttpServerRequest&) {
      return net::HttpServerResponse{200, "text/plain; version=0.0.4", "num_requests_waiting 0\n"};
    });
    EXPECT_TRUE(pods_.Start("127.0.0.1:0", 4).ok());
    pods_base_ = "http://127.0.0.1:" + std::to_string(pods_.port());
  }
  ~AdminServerTest() override {
    if (admin_) admin_->Stop();
    engine_.StopAll();
  }

  void StartAdmin(const std::string& token_file = "", ScaledObjectLookupFn lookup = nullptr,
                  const std::function<void(AdminServer&)>& configure = nullptr) {
    admin_ = std::make_unique<AdminServer>(
        &engine_, &metrics_, &clock_, [](std::string*) { return true; }, token_file);
    if (lookup) admin_->SetScaledObjectLookup(std::move(lookup));
    if (configure) configure(*admin_);
    ASSERT_TRUE(admin_->Start("127.0.0.1:0").ok());
    port_ = admin_->port();
  }

  std::shared_ptr<engine::TrackedObject> Track(const std::string& ns, const std::string& name,
                                               const std::vector<std::string>& paths,
                                               std::map<std::string, std::string> extra = {}) {
    std::string endpoints;
    for (const auto& p : paths) endpoints += (endpoints.empty() ? "" : ",") + pods_base_ + p;
    config::Metadata md = {
        {"endpoints", endpoints}, {"engine", "nim"}, {"scrapeInterval", "200ms"}, {"targetKvCache", "0.1"}};
    for (auto& [k, v] : extra) md[k] = v;
    auto obj = engine_.Resolve(ns, name, md);
    EXPECT_TRUE(obj.ok()) << obj.status().message();
    return obj.ok() ? *obj : nullptr;
  }

  // A trigger whose pods come from Service namespace/service (the fake API lists nim/a's, with
  // no pod in them: a model at zero; other Services' lists fail, which changes nothing here).
  std::shared_ptr<engine::TrackedObject> TrackService(const std::string& ns, const std::string& name,
                                                      const std::string& service, const std::string& target = "0.1") {
    config::Metadata md = {{"service", service},
                           {"engine", "nim"},
                           {"scrapeInterval", "1s"},
                           {"targetKvCache", target},
                           {"activation", "sum(waiting) > 1000000"}};
    auto obj = engine_.Resolve(ns, name, md);
    EXPECT_TRUE(obj.ok()) << obj.status().message();
    return obj.ok() ? *obj : nullptr;
  }

  std::optional<RawResponse> Request(const std::string& method, const std::string& path,
                                     const std::string& extra_headers = "", std::chrono::milliseconds timeout = 3s) {
    RawConn c(port_);
    if (!c.ok()) return std::nullopt;
    if (!c.Send(method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n" +
                extra_headers + "\r\n")) {
      return std::nullopt;
    }
    return c.ReadResponse(timeout);
  }

  net::HttpServer pods_;
  std::string pods_base_;
  std::shared_ptr<net::HttpClient> http_ = net::MakeCurlHttpClient();
  nimscaler::testing::FakeKubeApi kube_{"nim", "a"};  // EndpointSlices of Service nim/a
  sources::DiscoveryRegistry registry_{sources::KubeApiConfig{kube_.url(), "", ""}, http_};
  SystemClock clock_;
  telemetry::ScalerMetrics metrics_;
  engine::ScalerEngine engine_{trigger::SpecOptions{.allow_static_endpoints = true, .min_scrape_interval = 100ms},
                               engine::EngineDeps{http_, &registry_, &clock_, nullptr}, 10min};
  std::unique_ptr<AdminServer> admin_;
  int port_ = 0;
};

// Issue 19 item 1: a pod (or wakeQuery's Prometheus) answering with bytes that are not UTF-8,
// or with a multi-byte character across the cut of an error text, made the next
// GET /debug/scaledobjects throw nlohmann's type_error out of the civetweb thread (SIGABRT).
// Today's texts: HTTP errors give status and size only, a duplicate series quotes the series.
TEST_F(AdminServerTest, DebugAnswersValidJsonWhateverBytesPodsAndPrometheusSent) {
  StartAdmin();
  auto obj = Track("nim", "llama", {"/bad-bytes/metrics", "/cut/metrics", "/error/metrics"},
                   {{"wakeQuery", "sum(x)"}, {"prometheusAddress", pods_base_}});
  ASSERT_NE(obj, nullptr);
  ASSERT_TRUE(Eventually(
      [&] {
        auto ev = obj->Latest();
        if (!ev->snapshot || ev->snapshot->pods.size() != 3 || ev->wake_error.empty()) return false;
        for (const auto& p : ev->snapshot->pods) {
          if (p.error.empty()) return false;
        }
        return true;
      },
      5s))
      << "both pods and wakeQuery should have failed by now";
  // The duplicate-series text is cut by Truncate right where "é" is: it must keep whole
  // characters (before the fix it ended in a lone 0xC3).
  auto ev = obj->Latest();
  bool saw_cut = false;
  for (const auto& p : ev->snapshot->pods) {
    if (p.error.find("duplicate series") == std::string::npos) continue;
    saw_cut = true;
    EXPECT_TRUE(IsValidUtf8(p.error)) << p.error;
  }
  EXPECT_TRUE(saw_cut) << "the /cut pod should report its duplicate series";
  for (int round = 0; round < 3; ++round) {  // a few collection cycles apart
    auto r = Request("GET", "/debug/scaledobjects");
    ASSERT_TRUE(r.has_value()) << "no answer (the process would have aborted before the fix)";
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_TRUE(IsValidUtf8(r->body));
    nlohmann::json doc;
    ASSERT_NO_THROW(doc = nlohmann::json::parse(r->body)) << "strict parse (rejects invalid UTF-8)";
    ASSERT_EQ(doc.size(), 1u);
    ASSERT_EQ(doc[0]["pods"].size(), 3u);
    for (const auto& pod : doc[0]["pods"]) ASSERT_TRUE(pod.contains("error")) << pod.dump();
    EXPECT_NE(doc[0]["pods"].dump().find("duplicate series"), std::string::npos);
    EXPECT_NE(doc[0]["pods"].dump().find("HTTP 500"), std::string::npos);
    EXPECT_NE(doc[0]["wakeError"].get<std::string>().find("HTTP 500"), std::string::npos) << doc[0].dump();
    std::this_thread::sleep_for(150ms);
  }
}

// Issue 19 item 4: NUL bytes (and other control characters or invalid UTF-8) in names went
// into /metrics label values as raw bytes.
TEST_F(AdminServerTest, MetricsLabelValuesAreSanitized) {
  StartAdmin();
  telemetry::ScaledObjectGauges g;
  g.value = 2;
  g.signals = {{std::string("kv\0cache", 8), 0.5}};
  metrics_.SetScaledObject({std::string("nim\0x", 5), "llama\xFF\n\x01", "nim-x"}, g);
  metrics_.RecordGrpc(std::string("Get\0Metrics", 11), "OK", 0.001);
  auto r = Request("GET", "/metrics");
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->body.find('\0'), std::string::npos) << "no NUL byte in /metrics";
  EXPECT_TRUE(IsValidUtf8(r->body));
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_NE(r->body.find("namespace=\"nim" + fffd + "x\",scaledobject=\"llama" + fffd + fffd + fffd + "\""),
            std::string::npos)
      << r->body;
  EXPECT_NE(r->body.find("signal=\"kv" + fffd + "cache\""), std::string::npos);
  EXPECT_NE(r->body.find("method=\"Get" + fffd + "Metrics\""), std::string::npos);
  for (char c : r->body) {
    EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 && c != '\n') << "control byte " << int(c);
  }
  // Forgetting the object removes its series, sanitized names and all.
  metrics_.RemoveScaledObject({std::string("nim\0x", 5), "llama\xFF\n\x01", "nim-x"});
  auto after = Request("GET", "/metrics");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->body.find("scaledobject=\"llama"), std::string::npos) << after->body;
}

// Issue 19 item 5: "%00" in the URL cut the name short (".../llama%00junk" woke "llama");
// any byte that cannot be in a Kubernetes name is now refused with 400.
TEST_F(AdminServerTest, WakeHookRefusesNamesThatAreNotKubernetesNames) {
  StartAdmin();
  ASSERT_NE(Track("nim", "llama", {"/ok/metrics"}), nullptr);
  auto nul = Request("POST", "/v1/wake/nim/llama%00junk");
  ASSERT_TRUE(nul.has_value());
  EXPECT_EQ(nul->status, 400) << nul->body;
  EXPECT_NE(nul->body.find("llama\\x00junk"), std::string::npos) << nul->body;
  EXPECT_NE(nul->body.find("DNS-1123 subdomain"), std::string::npos) << nul->body;
  auto ns_nul = Request("POST", "/v1/wake/nim%00x/llama");
  ASSERT_TRUE(ns_nul.has_value());
  EXPECT_EQ(ns_nul->status, 400);
  EXPECT_NE(ns_nul->body.find("DNS-1123 label"), std::string::npos) << ns_nul->body;
  for (const std::string& bad : std::vector<std::string>{
           "/v1/wake/NIM/llama", "/v1/wake/nim/Llama", "/v1/wake/-nim/llama", "/v1/wake/nim/llama-",
           "/v1/wake/nim/llama..x", "/v1/wake/nim/.llama", "/v1/wake/nim/ll%20ama", "/v1/wake/nim/ll%FFama",
           "/v1/wake/nim.x/llama", "/v1/wake/" + std::string(64, 'n') + "/llama",
           "/v1/wake/nim/" + std::string(254, 'l')}) {
    auto r = Request("POST", bad);
    ASSERT_TRUE(r.has_value()) << bad;
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
    EXPECT_TRUE(IsValidUtf8(r->body)) << bad;
  }
  // Valid names: the longest allowed, and dotted object names, pass the check and reach the
  // lookup (untracked here: 404, or 202 where untracked wakes are kept for later).
  for (const std::string& ok :
       std::vector<std::string>{"/v1/wake/" + std::string(63, 'n') + "/llama", "/v1/wake/nim/llama.v2",
                                "/v1/wake/nim/" + std::string(253, 'l')}) {
    auto r = Request("POST", ok);
    ASSERT_TRUE(r.has_value()) << ok;
    EXPECT_TRUE(r->status == 404 || r->status == 202) << ok << ": " << r->status << " " << r->body;
  }
  auto woke = Request("POST", "/v1/wake/nim/llama");
  ASSERT_TRUE(woke.has_value());
  EXPECT_EQ(woke->status, 200) << woke->body;
}

// Issue 12 item 4: a wake for a ScaledObject no replica tracks was always 202, so a typo in the
// gateway's configuration looked accepted forever. With the Kubernetes API at hand (here a
// loopback fake, through the real lookup and curl client), a name that exists nowhere gets a
// clear 404; one that exists gets 202; an API that refuses says so in the 202. In every case
// the wake is kept and applied when KEDA first asks.
TEST_F(AdminServerTest, WakeForAnUntrackedScaledObjectAsksTheApiWhetherItExists) {
  nimscaler::testing::FakeKubeApi kube("nim", "unused");
  kube.AddScaledObject("nim", "exists");
  sources::KubeApiConfig api{kube.url(), "", ""};
  StartAdmin("", [this, api](const std::string& ns, const std::string& name) {
    return sources::ScaledObjectExists(*http_, api, ns, name, 2s);
  });
  auto typo = Request("POST", "/v1/wake/nim/lama");
  ASSERT_TRUE(typo.has_value());
  EXPECT_EQ(typo->status, 404) << typo->body;
  EXPECT_NE(typo->body.find("no ScaledObject nim/lama in the cluster"), std::string::npos) << typo->body;
  EXPECT_NE(typo->body.find("check the namespace"), std::string::npos) << typo->body;
  auto exists = Request("POST", "/v1/wake/nim/exists");
  ASSERT_TRUE(exists.has_value());
  EXPECT_EQ(exists->status, 202) << exists->body;
  EXPECT_NE(exists->body.find("not tracked by this replica yet"), std::string::npos) << exists->body;
  EXPECT_EQ(exists->body.find("could not check"), std::string::npos) << exists->body;
  EXPECT_EQ(kube.scaled_object_gets(), 2);
  // A tracked trigger is woken without asking the API.
  ASSERT_NE(Track("nim", "tracked", {"/ok/metrics"}), nullptr);
  auto tracked = Request("POST", "/v1/wake/nim/tracked");
  ASSERT_TRUE(tracked.has_value());
  EXPECT_EQ(tracked->status, 200) << tracked->body;
  EXPECT_EQ(kube.scaled_object_gets(), 2);
  // Both wakes were kept: the 404'd name, created after all, starts woken too.
  for (const char* name : {"lama", "exists"}) {
    auto obj = Track("nim", name, {"/ok/metrics"}, {{"activation", "sum(waiting) > 1000000"}});
    ASSERT_NE(obj, nullptr);
    EXPECT_TRUE(obj->Latest()->woken) << name;
  }
  // Without permission to read ScaledObjects: 202, saying what to grant.
  kube.ForbidScaledObjects();
  auto forbidden = Request("POST", "/v1/wake/nim/other");
  ASSERT_TRUE(forbidden.has_value());
  EXPECT_EQ(forbidden->status, 202) << forbidden->body;
  EXPECT_NE(forbidden->body.find("could not check that it exists"), std::string::npos) << forbidden->body;
  EXPECT_NE(forbidden->body.find("answered 403"), std::string::npos) << forbidden->body;
  EXPECT_NE(forbidden->body.find("get` on scaledobjects.keda.sh"), std::string::npos) << forbidden->body;
}

// Issue 18 item 2 (wake by Service): POST /v1/wake/<ns>/service/<service> wakes exactly the
// triggers that read that Service, each once, whatever their ScaledObjects are called: two
// ScaledObjects on Service nim/a (one with two triggers), not the one on nim/b, not the one on
// a Service of the same name in another namespace. The body names them; the wake goes to the
// other replicas, marked as a wake by Service; calling again re-arms the same hold. Before,
// the three-part path was a 400.
TEST_F(AdminServerTest, WakeByServiceWakesExactlyTheTriggersThatReadIt) {
  std::vector<std::pair<std::string, std::string>> sent;
  std::mutex sent_mu;
  StartAdmin("", nullptr, [&](AdminServer& admin) {
    admin.SetWakeBroadcast([&](const std::string& ns, const std::string& name) {
      std::lock_guard lock(sent_mu);
      sent.emplace_back(ns, name);
      return size_t{2};
    });
  });
  auto chat = TrackService("nim", "chat", "a");
  auto batch = TrackService("nim", "batch", "a");
  auto batch2 = TrackService("nim", "batch", "a", "0.2");
  auto other = TrackService("nim", "other", "b");
  auto elsewhere = TrackService("prod", "chat", "a");
  ASSERT_TRUE(chat && batch && batch2 && other && elsewhere);
  for (int call = 0; call < 2; ++call) {
    auto r = Request("POST", "/v1/wake/nim/service/a");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_NE(r->body.find("woke 3 trigger(s) of 2 ScaledObject(s) reading Service nim/a: nim/batch, nim/chat"),
              std::string::npos)
        << r->body;
    EXPECT_NE(r->body.find("sent to 2 other replica(s)"), std::string::npos) << r->body;
  }
  for (const auto& obj : {chat, batch, batch2}) EXPECT_TRUE(obj->Latest()->woken) << obj->spec().key.ToString();
  EXPECT_FALSE(other->Latest()->woken);
  EXPECT_FALSE(elsewhere->Latest()->woken);
  {
    std::lock_guard lock(sent_mu);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0], std::make_pair(std::string("nim"), std::string("service/a")));
  }
  // No trigger here reads nim/c: 202, saying so, kept and sent on.
  auto none = Request("POST", "/v1/wake/nim/service/c");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 202) << none->body;
  EXPECT_NE(none->body.find("no trigger tracked by this replica reads Service nim/c"), std::string::npos) << none->body;
  EXPECT_NE(none->body.find("sent to 2 other replica(s), which wake the triggers they track that read it; the wake "
                            "is kept for 5m"),
            std::string::npos)
      << none->body;
  EXPECT_FALSE(other->Latest()->woken);
}

// Issue 18 item 2: the Service's name is checked like the namespace (a DNS-1123 label), and a
// path of any other shape is a 400 that says which two shapes are accepted.
TEST_F(AdminServerTest, WakeByServiceRefusesNamesThatAreNotServiceNames) {
  StartAdmin();
  ASSERT_NE(TrackService("nim", "chat", "a"), nullptr);
  for (const std::string& bad : std::vector<std::string>{
           "/v1/wake/nim/service/A", "/v1/wake/nim/service/a.b", "/v1/wake/nim/service/-a",
           "/v1/wake/nim/service/a%00x", "/v1/wake/nim/service/" + std::string(64, 'a'), "/v1/wake/NIM/service/a"}) {
    auto r = Request("POST", bad);
    ASSERT_TRUE(r.has_value()) << bad;
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
    EXPECT_NE(r->body.find("DNS-1123 label"), std::string::npos) << bad << ": " << r->body;
    EXPECT_TRUE(IsValidUtf8(r->body)) << bad;
  }
  for (const std::string& bad : std::vector<std::string>{"/v1/wake/nim/service/", "/v1/wake/nim/service/a/b",
                                                         "/v1/wake/nim/services/a", "/v1/wake/nim//a"}) {
    auto r = Request("POST", bad);
    ASSERT_TRUE(r.has_value()) << bad;
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
    EXPECT_NE(r->body.find("/v1/wake/<namespace>/service/<service>"), std::string::npos) << bad << ": " << r->body;
  }
  auto ok = Request("POST", "/v1/wake/nim/service/" + std::string(63, 'a'));  // the longest name: accepted
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 202) << ok->body;
  auto woke = Request("POST", "/v1/wake/nim/service/a");
  ASSERT_TRUE(woke.has_value());
  EXPECT_EQ(woke->status, 200) << woke->body;
}

// Issue 18 item 2: the same token as the hook by ScaledObject.
TEST_F(AdminServerTest, WakeByServiceNeedsTheTokenWhenOneIsConfigured) {
  std::string token_file = ::testing::TempDir() + "/admin-wake-service-token";
  std::ofstream(token_file) << "s3cret\n";
  StartAdmin(token_file);
  auto chat = TrackService("nim", "chat", "a");
  ASSERT_NE(chat, nullptr);
  for (const std::string& headers : {std::string(), std::string("Authorization: Bearer nope\r\n")}) {
    auto r = Request("POST", "/v1/wake/nim/service/a", headers);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 401) << r->body;
  }
  EXPECT_FALSE(chat->Latest()->woken) << "refused calls wake nothing";
  auto r = Request("POST", "/v1/wake/nim/service/a", "Authorization: Bearer s3cret\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(chat->Latest()->woken);
}

// Issue 18 item 2: /v1/wake/<ns>/service (two parts) is still the ScaledObject named "service",
// and /v1/wake/<ns>/service/service the Service named "service": neither wakes the other's.
TEST_F(AdminServerTest, AScaledObjectNamedServiceIsStillWokenByName) {
  StartAdmin();
  auto named_service = TrackService("nim", "service", "a");  // ScaledObject "service" on Service a
  auto reads_service = TrackService("nim", "x", "service");  // ScaledObject "x" on Service "service"
  ASSERT_TRUE(named_service && reads_service);
  auto by_name = Request("POST", "/v1/wake/nim/service");
  ASSERT_TRUE(by_name.has_value());
  EXPECT_EQ(by_name->status, 200) << by_name->body;
  EXPECT_NE(by_name->body.find("woke 1 trigger(s) of nim/service"), std::string::npos) << by_name->body;
  EXPECT_TRUE(named_service->Latest()->woken);
  EXPECT_FALSE(reads_service->Latest()->woken);
  auto by_service = Request("POST", "/v1/wake/nim/service/service");
  ASSERT_TRUE(by_service.has_value());
  EXPECT_EQ(by_service->status, 200) << by_service->body;
  EXPECT_NE(by_service->body.find("reading Service nim/service: nim/x"), std::string::npos) << by_service->body;
  EXPECT_TRUE(reads_service->Latest()->woken);
}

// Issue 18 item 2: a wake by Service before KEDA's first call (the gateway holds the first
// request of a model at zero) is kept, and a trigger that reads the Service starts woken when
// it is first tracked within the hold; a trigger on another Service does not.
TEST_F(AdminServerTest, AWakeByServiceBeforeTrackingIsAppliedWhenATriggerReadingItStarts) {
  StartAdmin();
  auto early = Request("POST", "/v1/wake/nim/service/a");
  ASSERT_TRUE(early.has_value());
  EXPECT_EQ(early->status, 202) << early->body;
  EXPECT_NE(early->body.find("kept for 5m"), std::string::npos) << early->body;
  auto late = TrackService("nim", "late", "a");
  auto late_b = TrackService("nim", "late-b", "b");
  ASSERT_TRUE(late && late_b);
  EXPECT_TRUE(late->Latest()->woken);
  EXPECT_TRUE(late->Latest()->active);
  EXPECT_FALSE(late_b->Latest()->woken);
}

// Issue 18 item 2 through the real lookup (sources::ServiceExists, curl, a loopback fake API):
// a Service the API does not know is 404, one it knows is 202, and the 404 body names it.
TEST_F(AdminServerTest, WakeByServiceAsksTheKubernetesApiWhetherTheServiceExists) {
  nimscaler::testing::FakeKubeApi kube("nim", "llama");
  kube.AddService("nim", "other");
  sources::KubeApiConfig api{kube.url(), "", ""};
  StartAdmin("", nullptr, [this, api](AdminServer& admin) {
    admin.SetServiceLookup([this, api](const std::string& ns, const std::string& service) {
      return sources::ServiceExists(*http_, api, ns, service, 2s);
    });
  });
  for (const auto& [path, want] : std::vector<std::pair<std::string, int>>{{"/v1/wake/nim/service/lama", 404},
                                                                           {"/v1/wake/nim/service/llama", 202},
                                                                           {"/v1/wake/nim/service/other", 202},
                                                                           {"/v1/wake/prod/service/llama", 404}}) {
    auto r = Request("POST", path);
    ASSERT_TRUE(r.has_value()) << path;
    EXPECT_EQ(r->status, want) << path << ": " << r->body;
    if (want == 404) {
      EXPECT_NE(r->body.find("in the cluster"), std::string::npos) << r->body;
    }
  }
}

// Issue 18 acceptance "unknown Service -> 404 with a clear body": with a Service lookup (the
// Kubernetes API), a Service no trigger here reads and that exists nowhere gets 404; one that
// exists gets 202; a lookup that fails says so in the 202. A Service read here is not looked up.
TEST_F(AdminServerTest, WakeByServiceForAServiceThatExistsNowhereIs404) {
  std::atomic<int> lookups{0};
  StartAdmin("", nullptr, [&](AdminServer& admin) {
    admin.SetServiceLookup([&](const std::string& ns, const std::string& service) -> Result<bool> {
      ++lookups;
      if (service == "refused") return Unavailable("GET services nim/refused answered 403");
      return ns == "nim" && (service == "a" || service == "exists");
    });
  });
  ASSERT_NE(TrackService("nim", "chat", "a"), nullptr);
  auto typo = Request("POST", "/v1/wake/nim/service/lama");
  ASSERT_TRUE(typo.has_value());
  EXPECT_EQ(typo->status, 404) << typo->body;
  EXPECT_NE(typo->body.find("no Service nim/lama in the cluster"), std::string::npos) << typo->body;
  EXPECT_NE(typo->body.find("check the namespace and the Service's name; the wake is kept for 5m"), std::string::npos)
      << typo->body;
  auto exists = Request("POST", "/v1/wake/nim/service/exists");
  ASSERT_TRUE(exists.has_value());
  EXPECT_EQ(exists->status, 202) << exists->body;
  EXPECT_EQ(exists->body.find("could not check"), std::string::npos) << exists->body;
  auto refused = Request("POST", "/v1/wake/nim/service/refused");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 202) << refused->body;
  EXPECT_NE(refused->body.find("could not check that the Service exists: GET services nim/refused answered 403"),
            std::string::npos)
      << refused->body;
  EXPECT_EQ(lookups.load(), 3);
  auto tracked = Request("POST", "/v1/wake/nim/service/a");
  ASSERT_TRUE(tracked.has_value());
  EXPECT_EQ(tracked->status, 200) << tracked->body;
  EXPECT_EQ(lookups.load(), 3);
}

// Issue 19 item 5: the auth scheme is case-insensitive (RFC 7235), so `bearer` works; the
// token itself must match exactly (compared in constant time, scaler/common/text.h).
TEST_F(AdminServerTest, WakeHookTokenSchemeIsCaseInsensitiveTokenIsExact) {
  std::string token_file = ::testing::TempDir() + "/admin-wake-token";
  std::ofstream(token_file) << "s3cret\n";
  StartAdmin(token_file);
  ASSERT_NE(Track("nim", "llama", {"/ok/metrics"}), nullptr);
  for (const std::string auth : {"Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR   s3cret "}) {
    auto r = Request("POST", "/v1/wake/nim/llama", "Authorization: " + auth + "\r\n");
    ASSERT_TRUE(r.has_value()) << auth;
    EXPECT_EQ(r->status, 200) << auth << ": " << r->body;
  }
  for (const std::string auth :
       {"Bearer s3cre", "Bearer s3cretx", "Bearer S3CRET", "Basic s3cret", "Bearer", "Bearers3cret", "s3cret"}) {
    auto r = Request("POST", "/v1/wake/nim/llama", "Authorization: " + auth + "\r\n");
    ASSERT_TRUE(r.has_value()) << auth;
    EXPECT_EQ(r->status, 401) << auth << ": " << r->body;
  }
  auto none = Request("POST", "/v1/wake/nim/llama");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 401);
}

// Issue 14 item 5: /debug/scaledobjects (every trigger's pods, formula and values) needs the
// token as the wake hook does when one is configured; /metrics and the probes stay open.
TEST_F(AdminServerTest, DebugNeedsTheTokenWhenOneIsConfigured) {
  std::string token_file = ::testing::TempDir() + "/admin-debug-token";
  std::ofstream(token_file) << "s3cret\n";
  StartAdmin(token_file);
  ASSERT_NE(Track("nim", "llama", {"/ok/metrics"}), nullptr);
  auto none = Request("GET", "/debug/scaledobjects");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->body.find("llama"), std::string::npos) << "nothing of the triggers leaks: " << none->body;
  auto wrong = Request("GET", "/debug/scaledobjects", "Authorization: Bearer nope\r\n");
  ASSERT_TRUE(wrong.has_value());
  EXPECT_EQ(wrong->status, 401);
  auto right = Request("GET", "/debug/scaledobjects", "Authorization: Bearer s3cret\r\n");
  ASSERT_TRUE(right.has_value());
  EXPECT_EQ(right->status, 200);
  EXPECT_NE(right->body.find("llama"), std::string::npos) << right->body;
  for (const char* open : {"/metrics", "/healthz"}) {
    auto r = Request("GET", open);
    ASSERT_TRUE(r.has_value()) << open;
    EXPECT_EQ(r->status, 200) << open;
  }
}

// Issue 19 item 8: with 4 worker threads, four slow request bodies or 50 slowloris
// connections starved /healthz (0 of 25 probes answered). Now 50 slowloris heads and 4
// trickled bodies leave /healthz answering at once, and the deadlines close every one of them.
TEST_F(AdminServerTest, SlowClientsDoNotStarveHealthz) {
  StartAdmin();
  std::vector<std::unique_ptr<RawConn>> attackers;
  for (int i = 0; i < 50; ++i) {
    attackers.push_back(std::make_unique<RawConn>(port_));
    ASSERT_TRUE(attackers.back()->ok());
    attackers.back()->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // the head never ends
  }
  for (int i = 0; i < 4; ++i) {
    attackers.push_back(std::make_unique<RawConn>(port_));
    ASSERT_TRUE(attackers.back()->ok());
    attackers.back()->Send("POST /v1/wake/nim/llama HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx");
  }
  // Keep every attacker trickling (a byte each 250 ms, faster than any per-read timeout), so
  // only the total deadlines can end them. Bounded: at most 10 s.
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (int tick = 0; tick < 40 && !stop.load(); ++tick) {
      for (auto& a : attackers) a->Send("x");
      std::this_thread::sleep_for(250ms);
    }
  });
  std::this_thread::sleep_for(300ms);  // the attackers hold their workers now
  int answered = 0;
  for (int i = 0; i < 25; ++i) {
    auto t0 = Clock::now();
    auto r = Request("GET", "/healthz", "", 1s);
    if (r.has_value() && r->status == 200 && Since(t0) < 1s) ++answered;
  }
  EXPECT_EQ(answered, 25) << "probes answered within 1 s each";
  // Every attacker is cut off: heads at the 2 s request deadline, bodies at 2 s (+ one read
  // timeout). Wait at most 6 s from now (the attack started ~0.5 s ago).
  auto t0 = Clock::now();
  size_t closed = 0;
  for (auto& a : attackers) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(6s - Since(t0));
    if (a->WaitClosed(std::max(left, 1ms))) ++closed;
  }
  stop.store(true);
  trickle.join();
  EXPECT_EQ(closed, attackers.size()) << "connections still open after " << Since(t0).count() << " ms";
}

}  // namespace
}  // namespace nimscaler::http
