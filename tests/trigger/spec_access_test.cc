// Issue 19 items 4 and 6 end to end over real loopback HTTP: the address rule a spec sets for
// dnsName (and wakeQuery) is applied by the real libcurl client to the address it connects
// to; HTTP errors never carry the response body; credentials taken out of URLs are sent as
// basic auth and never appear in messages.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include "scaler/net/address_policy.h"
#include "scaler/net/http_client.h"
#include "scaler/net/http_server.h"
#include "scaler/net/url.h"
#include "scaler/sources/discovery/discovery_registry.h"
#include "scaler/sources/pod_scrape_source.h"
#include "scaler/sources/prometheus_query_source.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSecret = "TOP-SECRET-INTERNAL-PAGE";

// A loopback server standing in for an internal service: every path answers 404 with a body
// that must never be echoed; it counts requests and keeps the last Authorization header.
class InternalServer {
 public:
  InternalServer() {
    server_.Route("/", [this](const net::HttpServerRequest& r) {
      std::lock_guard lock(mu_);
      ++requests_;
      auto it = r.headers.find("authorization");
      authorization_ = it == r.headers.end() ? "" : it->second;
      if (r.path == "/api/v1/query") return net::HttpServerResponse{status_, "application/json", body_};
      return net::HttpServerResponse{404, "text/plain", std::string(kSecret) + "\n"};
    });
    Status s = server_.Start("127.0.0.1:0", 2);
    if (!s.ok()) throw std::runtime_error(s.message());
  }
  int port() const { return server_.port(); }
  int requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::string authorization() const {
    std::lock_guard lock(mu_);
    return authorization_;
  }
  void Reset() {
    std::lock_guard lock(mu_);
    requests_ = 0;
    authorization_.clear();
    status_ = 200;
    body_.clear();
  }
  void SetQueryAnswer(int status, std::string body) {
    std::lock_guard lock(mu_);
    status_ = status;
    body_ = std::move(body);
  }

 private:
  mutable std::mutex mu_;
  int requests_ = 0;
  std::string authorization_;
  int status_ = 200;
  std::string body_;
  net::HttpServer server_;
};

// One server per process, made on first use and never stopped (stopping one takes about
// 2 s; ctest runs every test in its own process, which the exit cleans up). Each test
// starts from Reset().
InternalServer& Internal() {
  static InternalServer* const server = new InternalServer();
  server->Reset();
  return *server;
}

trigger::ScalerSpecConstPtr DnsSpec(const std::string& name, int port, bool allow) {
  auto s = trigger::BuildScalerSpec(
      "nim", "llama",
      {{"dnsName", name}, {"port", std::to_string(port)}, {"metricsPath", "/admin/config"}, {"engine", "nim"}},
      {.allow_static_endpoints = allow});
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? *s : nullptr;
}

// Issue 19 item 4: `dnsName: 127.0.0.1` (or localhost) with any port and path made the scaler
// GET internal URLs and echo the first line of the answer. Without --allow-static-endpoints
// no connection is made at all; with it the GET happens and the error has status and size only.
TEST(SpecAccess, DnsNameToLoopbackIsRefusedUnlessAllowed) {
  InternalServer& internal = Internal();
  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  for (std::string name : {"127.0.0.1", "localhost"}) {
    auto strict = DnsSpec(name, internal.port(), false);
    ASSERT_NE(strict, nullptr);
    sources::DnsDiscovery discovery(strict->discovery);
    auto pods = discovery.List();
    ASSERT_TRUE(pods.ok()) << pods.status().message();
    ASSERT_FALSE(pods->empty());
    std::vector<std::string> urls;
    for (const auto& p : *pods) urls.push_back(p.url);
    sources::PodScrapeSource source(strict->scrape, http);
    for (const auto& got : source.ScrapeAll(urls)) {
      ASSERT_FALSE(got.ok()) << name;
      EXPECT_EQ(got.status().code(), Code::kUnavailable);
      EXPECT_THAT(got.status().message(), HasSubstr("refused"));
      EXPECT_THAT(got.status().message(), HasSubstr("loopback address"));
      EXPECT_THAT(got.status().message(), HasSubstr("--allow-static-endpoints"));
    }
    auto single = source.Interpret(urls.front(), http->Get(urls.front(), strict->scrape.http));  // the Get path too
    ASSERT_FALSE(single.ok());
    EXPECT_THAT(single.status().message(), HasSubstr("refused"));
  }
  EXPECT_EQ(internal.requests(), 0) << "a refused address gets no connection, so no request";

  auto allowed = DnsSpec("127.0.0.1", internal.port(), true);
  ASSERT_NE(allowed, nullptr);
  sources::PodScrapeSource source(allowed->scrape, http);
  std::string url = "http://127.0.0.1:" + std::to_string(internal.port()) + "/admin/config";
  auto got = source.ScrapeAll({url}).front();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(internal.requests(), 1);
  EXPECT_THAT(got.status().message(),
              HasSubstr("returned HTTP 404 (" + std::to_string(std::string(kSecret).size() + 1) + " bytes)"));
  EXPECT_THAT(got.status().message(), Not(HasSubstr(kSecret)));
}

// The rule is judged on every request, also on a keep-alive connection opened earlier by a
// request that was allowed to make it.
TEST(SpecAccess, AReusedConnectionIsJudgedToo) {
  InternalServer& internal = Internal();
  auto http = net::MakeCurlHttpClient();
  auto pool = http->NewPool();
  std::string url = "http://127.0.0.1:" + std::to_string(internal.port()) + "/m";
  net::HttpRequestOptions open;
  net::HttpRequestOptions strict;
  strict.refuse_internal_addresses = true;
  auto first = http->GetAll({url}, open, pool.get());
  ASSERT_TRUE(first[0].ok()) << first[0].status().message();
  auto second = http->GetAll({url}, strict, pool.get());
  ASSERT_FALSE(second[0].ok());
  EXPECT_THAT(second[0].status().message(), HasSubstr("127.0.0.1 is a loopback address"));
  auto third = http->Get(url, strict);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(internal.requests(), 1);
}

TEST(SpecAccess, RefusedAddressKinds) {
  EXPECT_EQ(net::RefusedAddressKind("127.0.0.1"), "a loopback address");
  EXPECT_EQ(net::RefusedAddressKind("127.255.0.9"), "a loopback address");
  EXPECT_EQ(net::RefusedAddressKind("::1"), "a loopback address");
  EXPECT_EQ(net::RefusedAddressKind("::ffff:127.0.0.1"), "a loopback address");
  EXPECT_EQ(net::RefusedAddressKind("169.254.169.254"), "a link-local address");
  EXPECT_EQ(net::RefusedAddressKind("fe80::1%eth0"), "a link-local address");
  EXPECT_EQ(net::RefusedAddressKind("febf::1"), "a link-local address");
  EXPECT_EQ(net::RefusedAddressKind("0.0.0.0"), "the unspecified address");
  EXPECT_EQ(net::RefusedAddressKind("::"), "the unspecified address");
  EXPECT_EQ(net::RefusedAddressKind("8.8.8.8"), "");
  EXPECT_EQ(net::RefusedAddressKind("10.1.2.3"), "");
  EXPECT_EQ(net::RefusedAddressKind("fec0::1"), "");
  EXPECT_EQ(net::RefusedAddressKind("2001:db8::1"), "");
  EXPECT_EQ(net::RefusedAddressKind("not an address"), "");
}

// This host's own (non-loopback) addresses are refused like loopback: a pod would reach the
// scaler's node or its own other ports through them.
TEST(SpecAccess, ThisHostsOwnAddressesAreRefused) {
  std::string own;
  {
    // An address of this host that is not loopback: the one a UDP socket would use.
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    inet_pton(AF_INET, "10.255.255.1", &to.sin_addr);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
      sockaddr_in me{};
      socklen_t len = sizeof me;
      getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
      own = net::FormatAddress(reinterpret_cast<sockaddr*>(&me));
    }
    if (fd >= 0) close(fd);
  }
  if (own.empty() || own == "0.0.0.0") GTEST_SKIP() << "this machine has no non-loopback IPv4 address";
  EXPECT_EQ(net::RefusedAddressKind(own), "an address of this host") << own;
}

// The node's addresses (from --node-ip) are refused too; the list can be replaced.
TEST(SpecAccess, NodeAddressesAreRefusedOnceSet) {
  EXPECT_EQ(net::RefusedAddressKind("192.0.2.10"), "");
  net::SetNodeAddresses({"192.0.2.10", "2001:db8::10", "not-an-ip"});
  EXPECT_EQ(net::RefusedAddressKind("192.0.2.10"), "an address of this node");
  EXPECT_EQ(net::RefusedAddressKind("::ffff:192.0.2.10"), "an address of this node");
  EXPECT_EQ(net::RefusedAddressKind("2001:db8::10"), "an address of this node");
  EXPECT_EQ(net::RefusedAddressKind("192.0.2.11"), "");
  net::SetNodeAddresses({});
  EXPECT_EQ(net::RefusedAddressKind("192.0.2.10"), "");
}

// Issue 19 item 6: credentials written into an endpoint URL travel as basic auth; the stored
// URL and every error message are without them.
TEST(SpecAccess, EndpointCredentialsAreSentAsBasicAuthAndNeverShown) {
  InternalServer& internal = Internal();
  std::string hostport = "127.0.0.1:" + std::to_string(internal.port());
  auto s = trigger::BuildScalerSpec("nim", "llama", {{"endpoints", "http://scraper:s3cr%40t@" + hostport + "/admin"}},
                                    {.allow_static_endpoints = true});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ((*s)->discovery.urls, (std::vector<std::string>{"http://" + hostport + "/admin"}));
  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  sources::PodScrapeSource source((*s)->scrape, http);
  auto got = source.ScrapeAll({(*s)->discovery.urls[0]}).front();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(internal.authorization(), "Basic c2NyYXBlcjpzM2NyQHQ=");  // base64("scraper:s3cr@t")
  EXPECT_THAT(got.status().message(), Not(HasSubstr("s3cr")));

  // A URL with userinfo given to the client directly: its errors show the URL without it.
  auto fail = http->Get("http://admin:hunter2@127.0.0.1:1/metrics", {});
  ASSERT_FALSE(fail.ok());
  EXPECT_THAT(fail.status().message(), HasSubstr("GET http://127.0.0.1:1/metrics failed"));
  EXPECT_THAT(fail.status().message(), Not(HasSubstr("hunter2")));
}

TEST(RedactUrl, RemovesUserinfoOnly) {
  EXPECT_EQ(net::RedactUrl("http://u:p@pod:8000/m?x=1#f"), "http://pod:8000/m?x=1#f");
  EXPECT_EQ(net::RedactUrl("https://u@pod/m"), "https://pod/m");
  EXPECT_EQ(net::RedactUrl("http://a@b:c@pod/x@y"), "http://pod/x@y");
  EXPECT_EQ(net::RedactUrl("http://pod/m@x"), "http://pod/m@x");
  EXPECT_EQ(net::RedactUrl("u:p@pod:80/m"), "pod:80/m");
  EXPECT_EQ(net::RedactUrl("http://[::1]:80/m"), "http://[::1]:80/m");
  EXPECT_EQ(net::RedactUrl(""), "");
  auto split = net::SplitCredentials("http://%75ser:p%3A%zz@pod/m");
  EXPECT_TRUE(split.has_credentials);
  EXPECT_EQ(split.url, "http://pod/m");
  EXPECT_EQ(split.username, "user");
  EXPECT_EQ(split.password, "p:%zz");
  EXPECT_FALSE(net::SplitCredentials("http://@pod/m").has_credentials);
  EXPECT_EQ(net::SplitCredentials("http://:tok@pod/m").password, "tok");
}

// wakeQuery: Prometheus answers are checked for shape before use (these used to throw from
// nlohmann::json and abort the process), and no answer body is echoed.
TEST(WakeQuery, AnyAnswerGivesAValueOrAnError) {
  const char* bodies[] = {
      R"({"status":"success"})",
      R"({"status":"success","data":[]})",
      R"({"status":"success","data":null})",
      R"({"status":"success","data":{"resultType":3}})",
      R"({"status":"success","data":{"resultType":"vector","result":{"a":1}}})",
      R"({"status":"success","data":{"resultType":"vector"}})",
      R"({"status":"success","data":{"resultType":"scalar"}})",
      R"({"status":5})",
      R"({"status":"error","errorType":5,"error":["x"]})",
      R"([])",
      "\xff\xfe",
  };
  for (const char* b : bodies) {
    auto got = sources::PrometheusQuerySource::Decode(b);
    EXPECT_FALSE(got.ok()) << b;
    EXPECT_EQ(got.status().code(), Code::kUnavailable) << b;
  }
  auto mixed = sources::PrometheusQuerySource::Decode(
      R"({"status":"success","data":{"resultType":"vector","result":[1,"x",{"value":7},{"value":[0,"2"]},{"value":[0,"NaN"]}]}})");
  ASSERT_TRUE(mixed.ok()) << mixed.status().message();
  EXPECT_EQ(*mixed, 2.0);
  auto promql = sources::PrometheusQuerySource::Decode(
      R"({"status":"error","errorType":"bad_data","error":"parse error at char 4"})");
  EXPECT_THAT(promql.status().message(), HasSubstr("Prometheus error (bad_data): parse error at char 4"));
}

TEST(WakeQuery, ErrorsCarryStatusAndSizeNotTheBody) {
  InternalServer& internal = Internal();
  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  std::string base = "http://127.0.0.1:" + std::to_string(internal.port());
  sources::PrometheusQuerySource source(base, "up", http);
  internal.SetQueryAnswer(500, kSecret);
  auto got = source.Evaluate();
  EXPECT_THAT(got.status().message(), HasSubstr("HTTP 500 (24 bytes)"));
  EXPECT_THAT(got.status().message(), Not(HasSubstr(kSecret)));
  internal.SetQueryAnswer(200, std::string("<html>") + kSecret);
  got = source.Evaluate();
  EXPECT_THAT(got.status().message(), HasSubstr("not a JSON object (30 bytes)"));
  EXPECT_THAT(got.status().message(), Not(HasSubstr(kSecret)));
  internal.SetQueryAnswer(200, std::string(R"({"status":"success","data":{"resultType":"scalar","result":[0,"3"]}})"));
  got = source.Evaluate();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, 3.0);
}

// The spec's wake_http reaches the query: credentials from prometheusAddress as basic auth,
// and the address rule (refused on loopback without --allow-static-endpoints).
TEST(WakeQuery, SpecOptionsCarryCredentialsAndTheAddressRule) {
  InternalServer& internal = Internal();
  internal.SetQueryAnswer(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  config::Metadata md{{"dnsName", "pods.example"},
                      {"wakeQuery", "up"},
                      {"prometheusAddress", "http://scraper:s3cr%40t@127.0.0.1:" + std::to_string(internal.port())}};
  for (bool allow : {false, true}) {
    auto s =
        trigger::BuildScalerSpec("nim", "llama", md, {.allow_static_endpoints = allow, .prometheus_allowed = {"*"}});
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_THAT((*s)->prometheus_address, Not(HasSubstr("s3cr")));
    sources::PrometheusQuerySource source((*s)->prometheus_address, (*s)->wake_query, http, (*s)->wake_http);
    EXPECT_THAT(source.url(), Not(HasSubstr("s3cr")));
    auto got = source.Evaluate();
    if (!allow) {
      ASSERT_FALSE(got.ok());
      EXPECT_THAT(got.status().message(), HasSubstr("refused: 127.0.0.1 is a loopback address"));
      EXPECT_EQ(internal.requests(), 0);
    } else {
      ASSERT_TRUE(got.ok()) << got.status().message();
      EXPECT_EQ(*got, 0.0);
      EXPECT_EQ(internal.authorization(), "Basic c2NyYXBlcjpzM2NyQHQ=");
    }
  }
  // The three-argument form takes userinfo out of the address itself.
  sources::PrometheusQuerySource legacy("http://scraper:s3cr%40t@127.0.0.1:" + std::to_string(internal.port()), "up",
                                        http);
  EXPECT_THAT(legacy.url(), Not(HasSubstr("s3cr")));
  ASSERT_TRUE(legacy.Evaluate().ok());
  EXPECT_EQ(internal.authorization(), "Basic c2NyYXBlcjpzM2NyQHQ=");
}

}  // namespace
}  // namespace nimscaler
