// ScalerEngine: trigger identity, the spec cache and forgetting.
#include "scaler/engine/scaler_engine.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/fakes/fake_kube_api.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/testdata.h"

namespace nimscaler::engine {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class ScalerEngineTest : public ::testing::Test {
 protected:
  ScalerEngineTest()
      : http_(net::MakeCurlHttpClient()),
        registry_(std::nullopt, http_),
        engine_(trigger::SpecOptions{.allow_static_endpoints = true, .min_scrape_interval = 100ms},
                EngineDeps{http_, &registry_, &clock_, nullptr}, 10min) {}

  config::Metadata Trigger(const std::string& extra_model = "") {
    config::Metadata md{
        {"endpoints", pod_.url()}, {"engine", "nim"}, {"targetKvCache", "0.1"}, {"scrapeInterval", "20s"}};
    if (!extra_model.empty()) md["model"] = extra_model;
    return md;
  }

  testing::FakePod pod_{testing::NimCapture()};
  std::shared_ptr<net::HttpClient> http_;
  sources::DiscoveryRegistry registry_;
  SystemClock clock_;
  ScalerEngine engine_;
};

// Issue 19 item 5: two metadata maps whose old 64-bit hashes are equal (a value that embeds the
// hash's separators) are two triggers: the second caller never gets the first one's tracker.
TEST_F(ScalerEngineTest, MetadataThatHashesAlikeIsADifferentTrigger) {
  config::Metadata real = Trigger("llama");
  // The keys after "model" (scrapeInterval, targetKvCache) spelled inside the model value,
  // with the hash's separators between them.
  config::Metadata forged{{"endpoints", real["endpoints"]}, {"engine", "nim"}};
  forged["model"] = std::string("llama\1scrapeInterval\0", 21) + "20s" + std::string("\1targetKvCache\0", 15) + "0.1";
  ASSERT_EQ(trigger::HashMetadata(real), trigger::HashMetadata(forged)) << "the test needs a real collision";

  auto attacker = engine_.Resolve("nim", "llama", forged);
  auto victim = engine_.Resolve("nim", "llama", real);
  ASSERT_TRUE(victim.ok()) << victim.status().message();
  EXPECT_EQ((*victim)->spec().FormulaText(), "sum(kv_cache)/0.1");
  EXPECT_EQ((*victim)->spec().scrape_interval, 20s);
  EXPECT_EQ((*victim)->spec().scrape.model, "llama");
  if (attacker.ok()) {
    EXPECT_NE(attacker->get(), victim->get());
  }
  EXPECT_EQ(engine_.List().size(), attacker.ok() ? 2u : 1u);
}

TEST_F(ScalerEngineTest, LookupFindsOnlyWhatResolveCached) {
  auto md = Trigger();
  EXPECT_FALSE(engine_.Lookup("nim", "llama", md).has_value());
  auto obj = engine_.Resolve("nim", "llama", md);
  ASSERT_TRUE(obj.ok()) << obj.status().message();
  auto hit = engine_.Lookup("nim", "llama", md);
  ASSERT_TRUE(hit.has_value());
  ASSERT_TRUE(hit->ok());
  EXPECT_EQ(hit->value().get(), obj->get());
  md["targetKvCache"] = "nonsense";
  EXPECT_FALSE(engine_.Lookup("nim", "llama", md).has_value());
  auto bad = engine_.Resolve("nim", "llama", md);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  auto cached = engine_.Lookup("nim", "llama", md);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->status().code(), Code::kInvalidArgument);
}

TEST_F(ScalerEngineTest, WakeReachesEveryTriggerOfTheScaledObjectOnly) {
  ASSERT_TRUE(engine_.Resolve("nim", "llama", Trigger()).ok());
  ASSERT_TRUE(engine_.Resolve("nim", "llama", Trigger("a")).ok());
  ASSERT_TRUE(engine_.Resolve("nim", "llama-2", Trigger()).ok());
  ASSERT_TRUE(engine_.Resolve("nim2", "llama", Trigger()).ok());
  EXPECT_EQ(engine_.Wake("nim", "llama", clock_.Now(), "test"), 2u);
  EXPECT_EQ(engine_.Wake("nim", "llam", clock_.Now(), "test"), 0u);
}

// Triggers share a collection group (and its responses) only when they send the same
// credentials: a trigger must never read pods with another trigger's password.
TEST_F(ScalerEngineTest, TriggersWithDifferentCredentialsNeverShareAGroup) {
  auto url = pod_.url();
  auto with_user = [&](const std::string& userinfo) {
    config::Metadata md = Trigger();
    md["endpoints"] = "http://" + userinfo + "@" + url.substr(7);
    return md;
  };
  auto a = trigger::BuildScalerSpec("nim", "a", with_user("alice:one"), {.allow_static_endpoints = true});
  auto b = trigger::BuildScalerSpec("nim", "b", with_user("bob:two"), {.allow_static_endpoints = true});
  auto c = trigger::BuildScalerSpec("nim", "c", with_user("alice:one"), {.allow_static_endpoints = true});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status().message() << b.status().message();
  EXPECT_NE(Collector::GroupKey(**a), Collector::GroupKey(**b));
  EXPECT_EQ(Collector::GroupKey(**a), Collector::GroupKey(**c));
}

// Issue 12 item 4: a wake for a ScaledObject that is not tracked yet is applied when it is.
TEST_F(ScalerEngineTest, AWakeRecordedBeforeTrackingWakesTheTriggerWhenItStarts) {
  EXPECT_EQ(engine_.Wake("nim", "llama", clock_.Now(), "test"), 0u);
  engine_.RecordPendingWake("nim", "llama", clock_.Now() + 1min, "the wake hook");
  engine_.RecordPendingWake("nim", "expired", clock_.Now() - 1s, "the wake hook");
  // The capture's pod is busy; a pod that shows demand releases the wake on the first
  // collection (which may finish before the checks below), so here the pods show none.
  config::Metadata idle = Trigger();
  idle["activation"] = "sum(waiting) > 1000000";
  auto obj = engine_.Resolve("nim", "llama", idle);
  ASSERT_TRUE(obj.ok()) << obj.status().message();
  EXPECT_TRUE((*obj)->Latest()->woken);
  EXPECT_TRUE((*obj)->Latest()->active);
  auto other = engine_.Resolve("nim", "expired", idle);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)->Latest()->woken);
}

TEST_F(ScalerEngineTest, ForgetIfDropsOnlyWhatThePredicateSays) {
  ASSERT_TRUE(engine_.Resolve("nim", "a", Trigger()).ok());
  ASSERT_TRUE(engine_.Resolve("nim", "b", Trigger()).ok());
  EXPECT_EQ(engine_.ForgetIf([](const TrackedObject& o) { return o.spec().key.name == "a"; }, "test"), 1u);
  ASSERT_EQ(engine_.List().size(), 1u);
  EXPECT_EQ(engine_.List()[0]->spec().key.name, "b");
  EXPECT_FALSE(engine_.Lookup("nim", "a", Trigger()).has_value());
}

// Issue 19 item 11: forgetting thousands of idle triggers is a batch, linear in their number
// (it ran at ~36 per second on the health thread).
TEST_F(ScalerEngineTest, ForgettingThousandsOfIdleTriggersIsOneBatch) {
  constexpr int kTriggers = 3000;
  for (int i = 0; i < kTriggers; ++i) {
    ASSERT_TRUE(engine_.Resolve("nim", "llama-" + std::to_string(i), Trigger()).ok());
  }
  EXPECT_EQ(engine_.collection_groups(), 1u);  // one pod read the same way: one group
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(engine_.ForgetIdle(clock_.Now() + 11min), static_cast<size_t>(kTriggers));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(engine_.List().empty());
  EXPECT_EQ(engine_.collection_groups(), 0u);
  // Generous: a linear batch takes milliseconds; one-by-one removal took tens of seconds.
  EXPECT_LT(took, 5s);
}

// Issue 19 item 11, the case that was slow: triggers read through Kubernetes discovery each
// hold a watch; forgetting them must not wait for each watch thread in turn (it ran at ~36
// triggers a second and held SIGTERM for tens of seconds).
TEST(ScalerEngineForget, ForgettingTriggersWithWatchesDoesNotWaitForEachWatch) {
  testing::FakeKubeApi api("nim", "svc-0");
  std::shared_ptr<net::HttpClient> http = net::MakeCurlHttpClient();
  sources::DiscoveryRegistry registry(sources::KubeApiConfig{api.url(), "", ""}, http);
  SystemClock clock;
  ScalerEngine engine(trigger::SpecOptions{.min_scrape_interval = 100ms}, EngineDeps{http, &registry, &clock, nullptr},
                      10min);
  constexpr int kTriggers = 150;
  for (int i = 0; i < kTriggers; ++i) {
    auto obj = engine.Resolve("nim", "so-" + std::to_string(i),
                              {{"service", "svc-" + std::to_string(i)},
                               {"port", "http"},
                               {"engine", "nim"},
                               {"targetKvCache", "0.1"},
                               {"scrapeInterval", "20s"}});
    ASSERT_TRUE(obj.ok()) << obj.status().message();
  }
  std::this_thread::sleep_for(500ms);  // the watches are open
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(engine.ForgetIdle(clock.Now() + 11min), static_cast<size_t>(kTriggers));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(engine.List().empty());
  EXPECT_LT(took, 2s) << "forgetting " << kTriggers << " watched triggers took "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

// A Prometheus that accepts connections and never answers: a listening socket nobody accepts
// from (the kernel completes the handshakes into the backlog).
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 64) != 0) std::abort();
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  ~SilentServer() { ::close(fd_); }
  const std::string& url() const { return url_; }

 private:
  int fd_ = -1;
  std::string url_;
};

// Issue 19 item 7: a wakeQuery whose Prometheus never answers stalls neither its own trigger's
// collection nor anyone's readiness; only that trigger shows the wake error, promptly.
TEST_F(ScalerEngineTest, AStalledWakeQueryMarksOnlyItsTriggerAndDelaysNoCollection) {
  SilentServer prometheus;
  auto fast = [&](config::Metadata md) {
    md["scrapeInterval"] = "200ms";
    md["window"] = "1s";
    md["panicWindow"] = "400ms";
    return md;
  };
  config::Metadata stalled = fast(Trigger());
  stalled["wakeQuery"] = "sum(gateway_queue)";
  stalled["prometheusAddress"] = prometheus.url();
  auto a = engine_.Resolve("nim", "stalled", stalled);
  auto b = engine_.Resolve("nim", "healthy", fast(Trigger("other")));
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();

  auto deadline = std::chrono::steady_clock::now() + 2500ms;
  bool marked = false;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string why;
    ASSERT_TRUE(engine_.CollectionHealthy(clock_.Now(), &why)) << why;
    // Collection of the stalled trigger goes on at its interval (200 ms; the bound leaves room
    // for a loaded machine, the old code stalled each cycle for the query's full 5 s).
    if ((*a)->HasCompletedCycle()) {
      EXPECT_LT(clock_.Now() - (*a)->LastCycleEnd(), 2s);
    }
    marked = marked || !(*a)->Latest()->wake_error.empty();
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE((*a)->HasCompletedCycle()) << "no collection cycle of the stalled trigger ended in 2.5 s";
  EXPECT_TRUE(marked) << "the wakeQuery times out below the interval and says so";
  EXPECT_THAT((*a)->Latest()->wake_error, HasSubstr("wakeQuery"));
  EXPECT_TRUE((*b)->Latest()->wake_error.empty());
  EXPECT_TRUE((*a)->Latest()->status.ok()) << (*a)->Latest()->status.message();
}

// Issue 18 item 2 (wake by Service): the Services a trigger reads, from each way a spec names
// its pods; a name that says nothing about a Service (an IP, a host outside the cluster) gives none.
TEST(ServicesRead, NamesTheServiceOfEachWayATriggerFindsItsPods) {
  auto read = [](const std::string& ns, config::Metadata md) {
    md["engine"] = "nim";
    md["targetKvCache"] = "0.1";
    auto spec = trigger::BuildScalerSpec(ns, "so", md, {.allow_static_endpoints = true});
    EXPECT_TRUE(spec.ok()) << spec.status().message();
    std::vector<std::string> out;
    if (spec.ok()) {
      for (const auto& s : ServicesRead(**spec)) out.push_back(s.ns + "/" + s.name);
    }
    return out;
  };
  using ::testing::ElementsAre;
  using ::testing::IsEmpty;
  EXPECT_THAT(read("nim", {{"service", "llama"}}), ElementsAre("nim/llama"));
  EXPECT_THAT(read("nim", {{"dnsName", "llama"}}), ElementsAre("nim/llama"));
  EXPECT_THAT(read("nim", {{"dnsName", "llama.models"}}), ElementsAre("models/llama"));
  EXPECT_THAT(read("nim", {{"dnsName", "llama.models.svc"}}), ElementsAre("models/llama"));
  EXPECT_THAT(read("nim", {{"dnsName", "Llama.Models.svc.cluster.local"}}), ElementsAre("models/llama"));
  EXPECT_THAT(read("nim", {{"dnsName", "llama-0.llama.models.svc.cluster.local"}}), ElementsAre("models/llama"));
  EXPECT_THAT(read("nim", {{"dnsName", "svc.svc.svc.cluster.local"}}), ElementsAre("svc/svc"));
  EXPECT_THAT(read("nim", {{"dnsName", "10.0.0.1"}}), IsEmpty());
  EXPECT_THAT(read("nim", {{"dnsName", "api.example.com"}}), IsEmpty());
  EXPECT_THAT(read("nim", {{"endpoints",
                            "http://llama.nim.svc:8000/metrics,"
                            "http://llama.nim.svc.cluster.local:8001/metrics,"
                            "http://10.0.0.2:8000/metrics,http://localhost:8000/metrics,"
                            "https://vllm.other.svc.cluster.local/metrics"}}),
              ElementsAre("nim/llama", "other/vllm"));
  EXPECT_THAT(read("nim", {{"endpoints", "http://u:p@llama.nim.svc:8000/metrics"}}), ElementsAre("nim/llama"));
  EXPECT_THAT(read("nim", {{"endpoints", "http://10.0.0.2:8000/metrics,http://[fd00::1]:8000/metrics"}}), IsEmpty());
}

// Issue 18 item 2: a wake by Service reaches every tracked trigger that reads it, each once,
// whatever its ScaledObject is called; not a trigger reading another Service, nor one reading a
// Service of the same name in another namespace. Waking twice re-arms, nothing more.
TEST(ScalerEngineWakeService, WakesEveryTriggerReadingTheServiceAndNoOther) {
  testing::FakeKubeApi api("nim", "a");
  std::shared_ptr<net::HttpClient> http = net::MakeCurlHttpClient();
  sources::DiscoveryRegistry registry(sources::KubeApiConfig{api.url(), "", ""}, http);
  SystemClock clock;
  ScalerEngine engine(trigger::SpecOptions{.min_scrape_interval = 100ms}, EngineDeps{http, &registry, &clock, nullptr},
                      10min);
  auto track = [&](const std::string& ns, const std::string& name, const std::string& service,
                   const std::string& target = "0.1") {
    config::Metadata md{{"service", service},
                        {"engine", "nim"},
                        {"targetKvCache", target},
                        {"scrapeInterval", "1s"},
                        {"activation", "sum(waiting) > 1000000"}};
    auto obj = engine.Resolve(ns, name, md);
    EXPECT_TRUE(obj.ok()) << obj.status().message();
    return obj.ok() ? *obj : nullptr;
  };
  auto chat = track("nim", "chat", "a");
  auto batch = track("nim", "batch", "a");
  auto batch2 = track("nim", "batch", "a", "0.2");  // a second trigger of the same ScaledObject
  auto other = track("nim", "other", "b");
  auto elsewhere = track("prod", "chat", "a");
  ASSERT_TRUE(chat && batch && batch2 && other && elsewhere);
  for (int round = 0; round < 2; ++round) {
    ServiceWake woke = engine.WakeService("nim", "a", clock.Now(), "test");
    EXPECT_EQ(woke.triggers, 3u);
    EXPECT_THAT(woke.scaled_objects, ::testing::ElementsAre("nim/batch", "nim/chat"));
  }
  EXPECT_TRUE(chat->Latest()->woken);
  EXPECT_TRUE(batch->Latest()->woken);
  EXPECT_TRUE(batch2->Latest()->woken);
  EXPECT_FALSE(other->Latest()->woken);
  EXPECT_FALSE(elsewhere->Latest()->woken);
  EXPECT_EQ(engine.WakeService("nim", "c", clock.Now(), "test").triggers, 0u);
  EXPECT_EQ(engine.WakeService("prod", "a", clock.Now(), "test").scaled_objects, std::vector<std::string>{"prod/chat"});
  engine.StopAll();
}

// Issue 18 item 2: a wake by Service recorded before any trigger reading it is tracked (the
// gateway called before KEDA's first call) wakes such a trigger when it starts, within the hold.
TEST(ScalerEngineWakeService, AWakeByServiceRecordedBeforeTrackingWakesItsTriggersWhenTheyStart) {
  testing::FakeKubeApi api("nim", "a");
  std::shared_ptr<net::HttpClient> http = net::MakeCurlHttpClient();
  sources::DiscoveryRegistry registry(sources::KubeApiConfig{api.url(), "", ""}, http);
  SystemClock clock;
  ScalerEngine engine(trigger::SpecOptions{.min_scrape_interval = 100ms}, EngineDeps{http, &registry, &clock, nullptr},
                      10min);
  engine.RecordPendingServiceWake("nim", "a", clock.Now() + 1min, "the wake hook (Service nim/a)");
  engine.RecordPendingServiceWake("nim", "a", clock.Now() + 1min, "the wake hook (Service nim/a)");  // re-armed
  engine.RecordPendingServiceWake("nim", "b", clock.Now() - 1s, "the wake hook (Service nim/b)");    // expired
  auto track = [&](const std::string& ns, const std::string& name, const std::string& service) {
    config::Metadata md{{"service", service},
                        {"engine", "nim"},
                        {"targetKvCache", "0.1"},
                        {"scrapeInterval", "1s"},
                        {"activation", "sum(waiting) > 1000000"}};
    auto obj = engine.Resolve(ns, name, md);
    EXPECT_TRUE(obj.ok()) << obj.status().message();
    return obj.ok() ? *obj : nullptr;
  };
  auto late = track("nim", "late", "a");
  auto late2 = track("nim", "late-2", "a");
  auto b = track("nim", "reads-b", "b");
  auto elsewhere = track("prod", "late", "a");
  ASSERT_TRUE(late && late2 && b && elsewhere);
  EXPECT_TRUE(late->Latest()->woken);
  EXPECT_TRUE(late->Latest()->active);
  EXPECT_TRUE(late2->Latest()->woken) << "the record stays for every trigger that reads the Service";
  EXPECT_FALSE(b->Latest()->woken);
  EXPECT_FALSE(elsewhere->Latest()->woken);
  engine.StopAll();
}

}  // namespace
}  // namespace nimscaler::engine
