// Scrape faults (docs/operations.md "What KEDA gets, and when", issue 4): each fault a pod can show, with its expected
// outcome, through the real PodScrapeSource over libcurl and, where the policy lives there, through a
// ScalerEngine/TrackedObject with static endpoints. Servers that misbehave at the TCP level
// are raw loopback sockets (raw_server.h); well-formed pods whose answer changes during a test
// are FakePod (net::HttpServer), fixed ones StaticPod (raw sockets, which stop at once).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "scaler/engine/scaler_engine.h"
#include "scaler/sources/discovery/discovery_registry.h"
#include "scaler/sources/pod_scrape_source.h"
#include "tests/fakes/eventually.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/testdata.h"
#include "tests/faults/raw_server.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using testing::RawServer;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = 500ms;  // per-request timeout of the direct scrapes below
// Scheduling slack on a shared 2-core machine: generous, but far below a second timeout.
constexpr auto kSlack = 450ms;

using testing::Eventually;

// Sockets this process has open (client and server ends alike).
int OpenSockets() {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code ec2;
    auto target = std::filesystem::read_symlink(e.path(), ec2);
    if (!ec2 && target.string().rfind("socket:", 0) == 0) ++n;
  }
  return n;
}

std::chrono::milliseconds Since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

std::string PodBody(double kv, double waiting = 0) {
  return testing::WithSample(testing::WithSample(testing::NimCapture(), "gpu_cache_usage_perc", std::to_string(kv)),
                             "num_requests_waiting", std::to_string(waiting));
}

std::shared_ptr<net::HttpClient> Http() {
  static std::shared_ptr<net::HttpClient> http = net::MakeCurlHttpClient();
  return http;
}

sources::PodScrapeSource Source(size_t max_body = 16u << 20) {
  sources::PodScrapeConfig c;
  c.engine = "nim";
  c.signals = {"kv_cache", "waiting", "running"};
  c.http.timeout = kTimeout;
  c.http.max_body_bytes = max_body;
  return sources::PodScrapeSource(c, Http());
}

// One pod through the client's single-request path (Get), its body read as collection reads it.
// Collection itself fetches with GetAll (ScrapeAll below): both paths are checked.
Result<sources::PodScrape> GetOne(const sources::PodScrapeSource& source, const std::string& url) {
  return source.Interpret(url, Http()->Get(url, source.config().http));
}

std::string Gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}

// A server that sends one fixed response (head + body) per connection, then closes.
RawServer::Handler Answer(std::string response) {
  return [response = std::move(response)](int fd, const std::string&, const std::atomic<bool>& stop) {
    RawServer::SendAll(fd, response, stop);
  };
}

// A well-formed pod serving a fixed body over raw sockets (one request per connection). Used
// where the body never changes: unlike FakePod (civetweb), it stops at once after a test.
std::unique_ptr<RawServer> StaticPod(const std::string& body, const std::string& extra_headers = "") {
  return std::make_unique<RawServer>(Answer(testing::ResponseHead(body.size(), extra_headers) + body), 1000);
}

// Accepts, reads the request, never answers; holds the connection until the client gives up.
void Silent(int fd, const std::string&, const std::atomic<bool>& stop) { RawServer::HoldOpen(fd, stop); }

// ---------------------------------------------------------------------------------------
// A pod that accepts and never answers.

TEST(ScrapeFaults, SilentPodEndsAtTheTimeoutWithUnavailableNamingIt) {
  RawServer pod(Silent);
  auto t0 = Clock::now();
  auto got = GetOne(Source(), pod.url());
  auto took = Since(t0);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("timed out"));
  EXPECT_THAT(got.status().message(), HasSubstr(pod.url()));
  EXPECT_GE(took, kTimeout - 20ms) << "the timeout is honoured, not cut short";
  EXPECT_LE(took, kTimeout + kSlack) << "and not exceeded";
  EXPECT_EQ(pod.connections(), 1);
}

TEST(ScrapeFaults, SilentPodsDoNotDelayTheOthersInTheSameCycle) {
  // Four silent pods between three good ones: one concurrent cycle takes about one timeout;
  // one pod after another would take four.
  RawServer s1(Silent), s2(Silent), s3(Silent), s4(Silent);
  auto g1 = StaticPod(PodBody(0.1)), g2 = StaticPod(PodBody(0.2)), g3 = StaticPod(PodBody(0.3));
  std::vector<std::string> urls = {g1->url(), s1.url(), s2.url(), g2->url(), s3.url(), s4.url(), g3->url()};
  auto t0 = Clock::now();
  auto got = Source().ScrapeAll(urls);
  auto took = Since(t0);
  ASSERT_EQ(got.size(), urls.size());
  EXPECT_LE(took, kTimeout + kSlack) << "the cycle is concurrent (sequential would be >= " << 4 * kTimeout.count()
                                     << " ms)";
  for (size_t i : {0u, 3u, 6u}) {
    ASSERT_TRUE(got[i].ok()) << urls[i] << ": " << got[i].status().message();
  }
  EXPECT_DOUBLE_EQ(got[0]->gauges.at("kv_cache"), 0.1);
  EXPECT_DOUBLE_EQ(got[3]->gauges.at("kv_cache"), 0.2);
  EXPECT_DOUBLE_EQ(got[6]->gauges.at("kv_cache"), 0.3);
  for (size_t i : {1u, 2u, 4u, 5u}) {
    ASSERT_FALSE(got[i].ok());
    EXPECT_EQ(got[i].status().code(), Code::kUnavailable);
    EXPECT_THAT(got[i].status().message(), HasSubstr("timed out"));
    EXPECT_THAT(got[i].status().message(), HasSubstr(urls[i])) << "each error names its own pod";
  }
}

// ---------------------------------------------------------------------------------------
// HTTP errors, refused connections.

// Issue 19 item 4: the status and the body's size, never the body (it would hand whatever the
// URL reaches to the trigger's author).
TEST(ScrapeFaults, Http500IsUnavailableWithStatusAndSizeNotBody) {
  testing::FakePod pod(PodBody(0.2));
  pod.SetStatus(500);
  auto got = GetOne(Source(), pod.url());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("HTTP 500 (17 bytes)"));
  EXPECT_THAT(got.status().message(), ::testing::Not(HasSubstr("injected failure")));
  pod.SetStatus(200);
  auto again = GetOne(Source(), pod.url());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_DOUBLE_EQ(again->gauges.at("kv_cache"), 0.2);
}

TEST(ScrapeFaults, ConnectionRefusedFailsAtOnceAndNamesThePort) {
  testing::ClosedPort closed;
  auto good = StaticPod(PodBody(0.4));
  auto t0 = Clock::now();
  auto one = GetOne(Source(), closed.url());
  EXPECT_LE(Since(t0), 300ms) << "a refused connection is not a timeout";
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.status().code(), Code::kUnavailable);
  std::string port = closed.url().substr(closed.url().rfind(':') + 1);
  port = port.substr(0, port.find('/'));
  EXPECT_THAT(one.status().message(), HasSubstr(port));
  EXPECT_THAT(one.status().message(), AnyOf(HasSubstr("refused"), HasSubstr("connect")));

  t0 = Clock::now();
  auto all = Source().ScrapeAll({closed.url(), good->url()});
  EXPECT_LE(Since(t0), 300ms);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_FALSE(all[0].ok());
  ASSERT_TRUE(all[1].ok()) << all[1].status().message();
  EXPECT_DOUBLE_EQ(all[1]->gauges.at("kv_cache"), 0.4);
}

// ---------------------------------------------------------------------------------------
// Bodies over the cap.

std::string PaddedTo(size_t size) {
  std::string body = PodBody(0.25);
  if (body.back() != '\n') body += '\n';                               // the capture has no final newline
  const std::string pad = "# padding " + std::string(88, 'x') + "\n";  // 99 bytes a line
  while (body.size() + pad.size() <= size) body += pad;
  body += "#" + std::string(size - body.size() - 2, 'y') + "\n";  // size - body.size() >= 2
  return body;
}

TEST(ScrapeFaults, BodyOverTheDefault16MiBCapIsRefusedWithAClearMessage) {
  const size_t cap = net::HttpRequestOptions{}.max_body_bytes;
  ASSERT_EQ(cap, 16u << 20) << "the default body cap (docs/operations.md \"Security and limits\", Scrapes)";
  auto over = StaticPod(PaddedTo(cap + 1));
  sources::PodScrapeConfig c;
  c.engine = "nim";
  c.signals = {"kv_cache"};
  c.http.timeout = 5s;  // 16 MiB over loopback; the cap, not the clock, must end it
  sources::PodScrapeSource source(c, Http());
  auto got = GetOne(source, over->url());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("exceeds the 16777216-byte limit"));
  EXPECT_THAT(got.status().message(), HasSubstr(over->url()));
}

TEST(ScrapeFaults, BodyExactlyAtTheCapIsAcceptedOneByteMoreIsNot) {
  constexpr size_t kCap = 256 << 10;
  auto at = StaticPod(PaddedTo(kCap)), over = StaticPod(PaddedTo(kCap + 1));
  auto ok = GetOne(Source(kCap), at->url());
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_DOUBLE_EQ(ok->gauges.at("kv_cache"), 0.25);
  auto refused = GetOne(Source(kCap), over->url());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("exceeds the 262144-byte limit"));
  // The same through the concurrent path.
  auto all = Source(kCap).ScrapeAll({at->url(), over->url()});
  EXPECT_TRUE(all[0].ok());
  ASSERT_FALSE(all[1].ok());
  EXPECT_THAT(all[1].status().message(), HasSubstr("exceeds the 262144-byte limit"));
}

// ---------------------------------------------------------------------------------------
// Slow servers: the per-request timeout covers the whole transfer.

TEST(ScrapeFaults, BodyTrickledSlowlyEndsAtThePerRequestTimeout) {
  std::atomic<int> sent{0};
  RawServer pod([&](int fd, const std::string&, const std::atomic<bool>& stop) {
    std::string body = PodBody(0.2);
    if (!RawServer::SendAll(fd, testing::ResponseHead(body.size()), stop)) return;
    // One byte every 20 ms: the whole body would take minutes. Bounded by the body size.
    for (char c : body) {
      if (stop.load() || !RawServer::SendAll(fd, std::string_view(&c, 1), stop)) return;
      ++sent;
      if (RawServer::PeerClosed(fd, 20ms)) return;
    }
  });
  auto t0 = Clock::now();
  auto got = GetOne(Source(), pod.url());
  auto took = Since(t0);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("timed out"));
  EXPECT_GT(sent.load(), 3) << "bytes did arrive: it is the total time that ran out";
  EXPECT_GE(took, kTimeout - 20ms);
  EXPECT_LE(took, kTimeout + kSlack) << "ends at the per-request timeout, not later";
}

TEST(ScrapeFaults, HeadersTrickledSlowlyEndAtThePerRequestTimeout) {
  RawServer pod([](int fd, const std::string&, const std::atomic<bool>& stop) {
    const std::string head = testing::ResponseHead(100);
    for (char c : head) {  // bounded by the head's size
      if (stop.load() || !RawServer::SendAll(fd, std::string_view(&c, 1), stop)) return;
      if (RawServer::PeerClosed(fd, 60ms)) return;
    }
  });
  auto t0 = Clock::now();
  auto got = Source().ScrapeAll({pod.url(), pod.url()});  // the multi path
  auto took = Since(t0);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& r : got) {
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), HasSubstr("timed out"));
  }
  EXPECT_LE(took, kTimeout + kSlack);
}

// ---------------------------------------------------------------------------------------
// Garbage instead of metrics.

TEST(ScrapeFaults, GarbageIsAnErrorWithLineAndColumnNeverZeroes) {
  const std::string garbage = "num_requests_waiting 1\ngpu_cache_usage_perc{model_name=\"m\" 0.5\n";
  auto pod = StaticPod(garbage);
  auto got = GetOne(Source(), pod->url());
  ASSERT_FALSE(got.ok()) << "a garbled body must not give values";
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(got.status().message(), HasSubstr("column"));
  EXPECT_THAT(got.status().message(), HasSubstr(pod->url()));
}

TEST(ScrapeFaults, HtmlAndBinaryBodiesAreErrorsNotValues) {
  auto html = StaticPod("<!DOCTYPE html>\n<html><body>Welcome to nginx!</body></html>\n");
  std::string binary(4096, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>((i * 7919 + 13) & 0xff);
  auto bin = StaticPod(binary);
  auto all = Source().ScrapeAll({html->url(), bin->url()});
  for (const auto& r : all) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnavailable);
    EXPECT_THAT(r.status().message(), HasSubstr("line 1"));
    EXPECT_THAT(r.status().message(), HasSubstr("column"));
  }
}

// ---------------------------------------------------------------------------------------
// Content-Encoding: gzip.

TEST(ScrapeFaults, GzipEncodedBodyIsAcceptedOnBothPaths) {
  const std::string zipped = Gzip(PodBody(0.35, 2));
  RawServer pod(Answer(testing::ResponseHead(zipped.size(), "Content-Encoding: gzip\r\n") + zipped));
  auto one = GetOne(Source(), pod.url());
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_DOUBLE_EQ(one->gauges.at("kv_cache"), 0.35);
  EXPECT_DOUBLE_EQ(one->gauges.at("waiting"), 2);
  EXPECT_THAT(pod.last_request(), HasSubstr("gzip")) << "the scraper offers gzip:\n" << pod.last_request();
  auto all = Source().ScrapeAll({pod.url(), pod.url()});
  for (const auto& r : all) {
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_DOUBLE_EQ(r->gauges.at("kv_cache"), 0.35);
  }
}

TEST(ScrapeFaults, GzipBombOverTheCapIsRefusedAfterDecompression) {
  constexpr size_t kCap = 1 << 20;
  const std::string zipped = Gzip(PaddedTo(8 * kCap));  // a few KiB on the wire, 8 MiB inflated
  ASSERT_LT(zipped.size(), kCap / 16);
  RawServer pod(Answer(testing::ResponseHead(zipped.size(), "Content-Encoding: gzip\r\n") + zipped));
  auto got = GetOne(Source(kCap), pod.url());
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("exceeds the 1048576-byte limit"));
}

TEST(ScrapeFaults, CorruptGzipIsAnErrorNotAnEmptyBody) {
  const std::string not_gzip = "this was never compressed\n";
  RawServer pod(Answer(testing::ResponseHead(not_gzip.size(), "Content-Encoding: gzip\r\n") + not_gzip));
  auto got = GetOne(Source(), pod.url());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr(pod.url()));
}

// ---------------------------------------------------------------------------------------
// Connections do not pile up per thread or per forgotten ScaledObject.

// Regression test (was a bug): CurlHttpClient::GetAll kept its multi handle, and with it the
// connection cache, per calling thread, never cleaned up, so every keep-alive connection a
// finished collecting thread (a stopped or forgotten TrackedObject) had opened stayed open
// for the life of the process: one socket per pod per forgotten ScaledObject. Since issue 16
// item 2 connections belong to neither thread nor group: the client keeps one cache for every
// caller, bounded by its idle cap (scaler/net/http_client.h, CurlClientOptions), and the next
// thread that scrapes the same pods reuses them. Expected: a second thread scraping the same
// pods after the first has ended adds no socket.
TEST(ScrapeFaults, ConnectionsOfAFinishedThreadAreReusedNotLeaked) {
  testing::FakePod a(PodBody(0.1)), b(PodBody(0.2)), c(PodBody(0.3));
  auto scrape_in_a_thread = [&] {
    std::thread collector([&] {
      sources::PodScrapeConfig cfg;
      cfg.engine = "nim";
      cfg.signals = {"kv_cache"};
      sources::PodScrapeSource source(cfg, Http());  // keep-alive, as in production
      for (int i = 0; i < 2; ++i) {
        for (const auto& r : source.ScrapeAll({a.url(), b.url(), c.url()})) EXPECT_TRUE(r.ok());
      }
    });
    collector.join();
  };
  scrape_in_a_thread();
  const int after_first = OpenSockets();
  scrape_in_a_thread();
  scrape_in_a_thread();
  EXPECT_LE(OpenSockets(), after_first) << OpenSockets() - after_first
                                        << " sockets more after two more threads scraped the same pods";
}

// ---------------------------------------------------------------------------------------
// Through the collection loop (ScalerEngine / TrackedObject with static endpoints).

class CollectionFaults : public ::testing::Test {
 protected:
  std::shared_ptr<engine::TrackedObject> Track(const std::vector<std::string>& urls, const std::string& interval,
                                               std::map<std::string, std::string> extra = {}) {
    std::string joined;
    for (const auto& u : urls) joined += (joined.empty() ? "" : ",") + u;
    config::Metadata md = {{"endpoints", joined}, {"engine", "nim"}, {"scrapeInterval", interval}};
    if (extra.empty()) extra = {{"targetKvCache", "0.1"}};
    for (auto& [k, v] : extra) md[k] = v;
    auto obj = engine_.Resolve("nim", "llama", md);
    EXPECT_TRUE(obj.ok()) << obj.status().message();
    return obj.ok() ? *obj : nullptr;
  }
  static double Value(const std::shared_ptr<engine::TrackedObject>& obj) {
    auto ev = obj->Latest();
    return ev->status.ok() ? ev->value : -1;
  }
  static const signals::PodReading* Reading(const engine::EvaluationConstPtr& ev, const std::string& url) {
    if (!ev->snapshot) return nullptr;
    for (const auto& p : ev->snapshot->pods) {
      if (p.endpoint == url) return &p;
    }
    return nullptr;
  }

  std::shared_ptr<net::HttpClient> http_ = net::MakeCurlHttpClient();
  sources::DiscoveryRegistry registry_{std::nullopt, http_};
  SystemClock clock_;
  engine::ScalerEngine engine_{trigger::SpecOptions{.allow_static_endpoints = true, .min_scrape_interval = 100ms},
                               engine::EngineDeps{http_, &registry_, &clock_, nullptr}, 10min};
};

TEST_F(CollectionFaults, SilentPodsDoNotSlowTheCycleOrHideTheGoodPod) {
  // Interval 300 ms, so the scrape timeout is 300 ms too. Three silent pods scraped one
  // after another would stretch each cycle to ~900 ms; concurrently it stays ~300 ms.
  RawServer s1(Silent, 256), s2(Silent, 256), s3(Silent, 256);
  testing::FakePod good(PodBody(0.3));
  auto obj = Track({s1.url(), good.url(), s2.url(), s3.url()}, "300ms");
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 3.0; }, 3s)) << obj->Latest()->status.message();
  std::set<int64_t> cycle_ends;
  auto t0 = Clock::now();
  while (Since(t0) < 2400ms) {  // bounded sampling
    cycle_ends.insert(obj->LastCycleEnd().time_since_epoch().count());
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GE(cycle_ends.size(), 5u) << "~8 cycles of 300 ms expected; sequential scrapes would give ~2-3";
  auto ev = obj->Latest();
  ASSERT_TRUE(ev->status.ok()) << ev->status.message();
  EXPECT_EQ(ev->value, 3.0) << "the good pod's value, silent pods contribute nothing";
  const auto* silent = Reading(ev, s2.url());
  ASSERT_NE(silent, nullptr);
  EXPECT_FALSE(silent->answered);
  EXPECT_THAT(silent->error, HasSubstr("timed out"));
  std::string why;
  EXPECT_TRUE(engine_.CollectionHealthy(clock_.Now(), &why)) << why;
}

TEST_F(CollectionFaults, Http500KeepsLastGaugesFor3IntervalsThenUnavailableWithTheCause) {
  testing::FakePod pod(PodBody(0.2));
  auto obj = Track({pod.url()}, "200ms");
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 2.0; }, 3s));
  pod.SetStatus(500);
  auto failed_at = Clock::now();
  // Within 3 x 200 ms of the last success the value is the pod's last one, marked stale.
  ASSERT_TRUE(Eventually(
      [&] {
        const auto* r = Reading(obj->Latest(), pod.url());
        return r != nullptr && !r->answered;
      },
      2s));
  if (Since(failed_at) < 450ms) {
    auto ev = obj->Latest();
    ASSERT_TRUE(ev->status.ok()) << ev->status.message();
    EXPECT_EQ(ev->value, 2.0);
    EXPECT_TRUE(Reading(ev, pod.url())->stale);
  }
  ASSERT_TRUE(Eventually([&] { return obj->Latest()->status.code() == Code::kUnavailable; }, 3s));
  EXPECT_GE(Since(failed_at), 600ms - 250ms) << "not before the keep period (3 x interval, less one cycle)";
  EXPECT_THAT(obj->Latest()->status.message(), HasSubstr("HTTP 500"));
  EXPECT_THAT(obj->Latest()->status.message(), HasSubstr("no ready pod answered"));
  pod.SetStatus(200);
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 2.0; }, 3s)) << "recovers on the next good scrape";
}

TEST_F(CollectionFaults, GarbageKeepsThePodsLastGaugesFor3IntervalsNotZeroes) {
  testing::FakePod a(PodBody(0.2)), b(PodBody(0.3));
  auto obj = Track({a.url(), b.url()}, "200ms");
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 5.0; }, 3s)) << Value(obj);
  b.SetBody("gpu_cache_usage_perc{model_name=\"m\"} zero point three\n");
  ASSERT_TRUE(Eventually(
      [&] {
        const auto* r = Reading(obj->Latest(), b.url());
        return r != nullptr && !r->answered;
      },
      2s));
  auto ev = obj->Latest();
  const auto* r = Reading(ev, b.url());
  EXPECT_THAT(r->error, HasSubstr("line 1"));
  EXPECT_THAT(r->error, HasSubstr("column"));
  ASSERT_TRUE(ev->status.ok());
  EXPECT_EQ(ev->value, 5.0) << "b's last gauges (0.3) still count, never a zero";
  // After 3 x interval the stale gauges are dropped; the answer still does not fall while b
  // is missing (held), and it never shows b as zero.
  ASSERT_TRUE(Eventually(
      [&] {
        const auto* rb = Reading(obj->Latest(), b.url());
        return rb != nullptr && !rb->stale && !rb->answered;
      },
      3s));
  ev = obj->Latest();
  ASSERT_TRUE(ev->status.ok()) << ev->status.message();
  EXPECT_TRUE(Reading(ev, b.url())->gauges.empty()) << "gauges older than 3 x interval are not used";
  EXPECT_EQ(ev->value, 5.0) << "the answer does not fall while b is missing";
  EXPECT_DOUBLE_EQ(ev->signals.at("kv_cache"), 0.2) << "only a's real value is summed now";
}

TEST_F(CollectionFaults, PodLackingTheMetricIsFailedPreconditionNamingMetricPodAndSimilarNames) {
  std::string body = testing::NimCapture();
  for (size_t at = body.find("gpu_cache_usage_perc"); at != std::string::npos;
       at = body.find("gpu_cache_usage_perc", at + 1)) {
    body.replace(at, std::string("gpu_cache_usage_perc").size(), "gpu_kv_cache_usage_perc");
  }
  testing::FakePod pod(body);
  auto obj = Track({pod.url()}, "200ms");
  ASSERT_TRUE(Eventually([&] { return obj->HasCompletedCycle(); }, 3s));
  auto ev = obj->Latest();
  ASSERT_EQ(ev->status.code(), Code::kFailedPrecondition) << ev->status.message();
  EXPECT_THAT(ev->status.message(), HasSubstr("gpu_cache_usage_perc"));     // the metric
  EXPECT_THAT(ev->status.message(), HasSubstr(pod.url()));                  // the pod
  EXPECT_THAT(ev->status.message(), HasSubstr("gpu_kv_cache_usage_perc"));  // what it serves
}

// The same leak seen from the engine: a stopped TrackedObject's pod connections stay open.
TEST_F(CollectionFaults, StoppedObjectLeavesNoConnectionsOpen) {
  testing::FakePod a(PodBody(0.2)), b(PodBody(0.3));
  const int before = OpenSockets();
  auto obj = Track({a.url(), b.url()}, "200ms");
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 5.0; }, 3s));
  obj.reset();
  engine_.StopAll();
  EXPECT_TRUE(Eventually([&] { return OpenSockets() <= before; }, 1s))
      << OpenSockets() - before << " sockets left open after the object stopped";
}

// NaN and Inf samples are never values: whatever the pods serve, an answer that is given is
// finite and not negative (an infinite sample may currently make the answer UNAVAILABLE or
// wrong: see InfSampleContributesNothingLikeNan below).
TEST_F(CollectionFaults, NanAndInfSamplesNeverBecomeTheValue) {
  for (const char* bad : {"NaN", "+Inf", "-Inf"}) {
    SCOPED_TRACE(bad);
    auto good = StaticPod(PodBody(0.2, 1));
    auto odd = StaticPod(testing::WithSample(PodBody(0.2, 1), "gpu_cache_usage_perc", bad));
    auto obj = Track({good->url(), odd->url()}, "200ms", {{"targetKvCache", "0.1"}, {"targetWaiting", "10"}});
    ASSERT_TRUE(Eventually([&] { return obj->HasCompletedCycle(); }, 3s));
    std::this_thread::sleep_for(450ms);  // a few cycles
    auto ev = obj->Latest();
    if (ev->status.ok()) {
      EXPECT_TRUE(std::isfinite(ev->value)) << ev->value;
      EXPECT_GE(ev->value, 0);
    } else {
      EXPECT_EQ(ev->status.code(), Code::kUnavailable) << ev->status.message();
    }
    if (std::string(bad) == "NaN") {
      EXPECT_TRUE(ev->status.ok()) << ev->status.message();
    }
    for (const auto& [name, v] : ev->signals) EXPECT_FALSE(std::isnan(v)) << name;
    engine_.StopAll();  // stops and forgets this round's object
  }
}

TEST_F(CollectionFaults, NanSampleContributesNothing) {
  testing::FakePod good(PodBody(0.2)), odd(testing::WithSample(PodBody(0.2), "gpu_cache_usage_perc", "NaN"));
  auto obj = Track({good.url(), odd.url()}, "200ms");
  ASSERT_TRUE(Eventually([&] { return Value(obj) == 2.0; }, 3s)) << Value(obj);
  std::this_thread::sleep_for(450ms);
  EXPECT_EQ(Value(obj), 2.0) << "the NaN pod adds nothing; the good pod's 0.2 / 0.1 stands";
}

// Regression test (was a bug): an infinite gauge sample is summed as a value. PodScrapeSource's accumulator
// (scaler/sources/pod_scrape_source.cc, `if (std::isnan(s.value)) continue;`) and
// Snapshot::Sum (scaler/signals/snapshot.cc) skip NaN only, so one pod's +Inf or -Inf makes
// the signal's sum infinite. With +Inf the formula result is not finite, Evaluator::Update
// (scaler/engine/evaluator.cc, `if (!std::isfinite(decision.value))`) treats it as "no data in
// the window": the answer freezes at the previous value, or is UNAVAILABLE when there is none,
// although a healthy pod is answering (and the message blames the window). With -Inf, max()
// drops the kv_cache term and the answer falls to the waiting term (0.2 here instead of 2): a
// scale-down caused by one bad sample. signals["kv_cache"] (debug, telemetry) is +-Inf too.
// Expected: an infinite sample contributes nothing, like NaN: the answer is the good pod's
// 0.2 / 0.1 = 2 and every reported signal is finite.
TEST_F(CollectionFaults, InfSampleContributesNothingLikeNan) {
  for (const char* bad : {"+Inf", "-Inf"}) {
    SCOPED_TRACE(bad);
    auto good = StaticPod(PodBody(0.2, 2));
    auto odd = StaticPod(testing::WithSample(PodBody(0.2, 0), "gpu_cache_usage_perc", bad));
    auto obj = Track({good->url(), odd->url()}, "200ms", {{"targetKvCache", "0.1"}, {"targetWaiting", "10"}});
    ASSERT_TRUE(Eventually([&] { return obj->HasCompletedCycle(); }, 3s));
    std::this_thread::sleep_for(450ms);
    EXPECT_EQ(Value(obj), 2.0) << "an infinite sample must not replace or drop the answer: "
                               << obj->Latest()->status.message();
    for (const auto& [name, v] : obj->Latest()->signals) EXPECT_TRUE(std::isfinite(v)) << name << " = " << v;
    engine_.StopAll();
  }
}

}  // namespace
}  // namespace nimscaler
