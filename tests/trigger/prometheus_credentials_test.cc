// Issue 14 item 5: the server's Prometheus credentials (--prometheus-bearer-token-file,
// --prometheus-ca-file, --prometheus-header) reach wakeQuery only for the addresses the operator
// listed, and the bearer token is read from its file at every query (a rotated token works)
// and appears in no message. Over real loopback HTTP with the libcurl client.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "scaler/net/bearer_token.h"
#include "scaler/net/http_client.h"
#include "scaler/net/http_server.h"
#include "scaler/sources/prometheus_query_source.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* kToken = "tok-3f9a1c-first";
constexpr const char* kRotated = "tok-77b2e0-rotated";

std::string TempFile(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/nimscaler-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

trigger::SpecOptions CredentialOptions(const std::string& token_file) {
  trigger::SpecOptions o;
  o.prometheus_url = "https://prom.monitoring:9090";
  o.prometheus_allowed = {"https://thanos.monitoring:10902/", "*"};
  o.prometheus_bearer_token_file = token_file;
  o.prometheus_ca_file = "/etc/prom/ca.crt";
  o.prometheus_headers = {"X-Scope-OrgID: tenant1"};
  return o;
}

net::HttpRequestOptions WakeHttp(const config::Metadata& extra, const trigger::SpecOptions& options) {
  config::Metadata md{{"dnsName", "pods.example"}, {"wakeQuery", "sum(x)"}};
  for (const auto& [k, v] : extra) md[k] = v;
  auto s = trigger::BuildScalerSpec("nim", "llama", md, options);
  if (!s.ok()) throw std::runtime_error(s.status().message());
  return (*s)->wake_http;
}

TEST(PrometheusCredentials, OnlyTheAddressesTheOperatorListedGetThem) {
  trigger::SpecOptions options = CredentialOptions("/var/run/prom/token");
  // The server's own Prometheus (no prometheusAddress) and a listed one (a path under it).
  for (const config::Metadata& md :
       {config::Metadata{}, config::Metadata{{"prometheusAddress", "https://prom.monitoring:9090"}},
        config::Metadata{{"prometheusAddress", "https://THANOS.monitoring:10902/api/prom"}}}) {
    net::HttpRequestOptions o = WakeHttp(md, options);
    EXPECT_EQ(o.bearer_token_file, "/var/run/prom/token");
    EXPECT_EQ(o.ca_file, "/etc/prom/ca.crt");
    EXPECT_EQ(o.headers, std::vector<std::string>{"X-Scope-OrgID: tenant1"});
    EXPECT_FALSE(o.basic_auth);
  }
  // Allowed only through "*" (or --allow-static-endpoints): none of them, whatever the look-alike.
  for (const char* address :
       {"https://evil.example:9090", "https://prom.monitoring:9090.evil.example", "https://prom.monitoring:90901",
        "http://prom.monitoring:9090", "https://prom.monitoring:9090@evil.example"}) {
    net::HttpRequestOptions o = WakeHttp({{"prometheusAddress", address}}, options);
    EXPECT_THAT(o.bearer_token_file, IsEmpty()) << address;
    EXPECT_THAT(o.ca_file, IsEmpty()) << address;
    EXPECT_THAT(o.headers, IsEmpty()) << address;
  }
  trigger::SpecOptions static_ok = CredentialOptions("/var/run/prom/token");
  static_ok.prometheus_allowed = {};
  static_ok.allow_static_endpoints = true;
  EXPECT_THAT(WakeHttp({{"prometheusAddress", "https://other:9090"}}, static_ok).bearer_token_file, IsEmpty());
  EXPECT_EQ(WakeHttp({}, static_ok).bearer_token_file, "/var/run/prom/token");
  // A ScaledObject's own basic auth to a listed address is sent instead of the token.
  net::HttpRequestOptions own = WakeHttp({{"prometheusAddress", "https://reader:pw@prom.monitoring:9090"}}, options);
  EXPECT_TRUE(own.basic_auth);
  EXPECT_THAT(own.bearer_token_file, IsEmpty());
  EXPECT_EQ(own.ca_file, "/etc/prom/ca.crt");
}

TEST(PrometheusCredentials, ReadBearerTokenChecksTheFile) {
  auto ok = net::ReadBearerToken(TempFile("ok", std::string("  ") + kToken + "\n"));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(*ok, kToken);
  struct Bad {
    std::string content;
    std::string says;
  };
  for (const Bad& b :
       {Bad{"", "is empty"}, Bad{" \n", "is empty"},
        Bad{std::string(kToken) + "\nX-Injected: 1", "does not hold one token"},
        Bad{"two words", "does not hold one token"}, Bad{std::string(65 * 1024, 'a'), "is larger than 65536 bytes"}}) {
    std::string path = TempFile("bad", b.content);
    auto got = net::ReadBearerToken(path);
    ASSERT_FALSE(got.ok()) << b.says;
    EXPECT_THAT(got.status().message(), HasSubstr("bearer token file \"" + path + "\" " + b.says));
    EXPECT_THAT(got.status().message(), Not(HasSubstr(kToken)));
  }
  auto missing = net::ReadBearerToken("/nonexistent/token");
  EXPECT_THAT(missing.status().message(),
              HasSubstr("cannot read bearer token file \"/nonexistent/token\": No such file or directory"));
  auto dir = net::ReadBearerToken(::testing::TempDir());
  EXPECT_THAT(dir.status().message(), HasSubstr("cannot read bearer token file"));
}

// A loopback "Prometheus" that wants `Authorization: Bearer <token>` and the tenant header.
class AuthPrometheus {
 public:
  AuthPrometheus() {
    server_.Route("/api/v1/query", [this](const net::HttpServerRequest& r) {
      std::lock_guard lock(mu_);
      ++requests_;
      auto auth = r.headers.find("authorization");
      auto tenant = r.headers.find("x-scope-orgid");
      last_auth_ = auth == r.headers.end() ? "" : auth->second;
      if (last_auth_ != "Bearer " + want_) return net::HttpServerResponse{401, "text/plain", "unauthorized\n"};
      if (tenant == r.headers.end() || tenant->second != "tenant1") {
        return net::HttpServerResponse{400, "application/json",
                                       R"({"status":"error","errorType":"bad_data","error":"no org id"})"};
      }
      return net::HttpServerResponse{200, "application/json",
                                     R"({"status":"success","data":{"resultType":"scalar","result":[0,"4"]}})"};
    });
    Status s = server_.Start("127.0.0.1:0", 2);
    if (!s.ok()) throw std::runtime_error(s.message());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  void Want(std::string token) {
    std::lock_guard lock(mu_);
    want_ = std::move(token);
  }
  int requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::string last_auth() const {
    std::lock_guard lock(mu_);
    return last_auth_;
  }

 private:
  mutable std::mutex mu_;
  std::string want_ = kToken;
  int requests_ = 0;
  std::string last_auth_;
  net::HttpServer server_;
};

// One per process, never stopped (stopping takes about 2 s; the process exit cleans up).
AuthPrometheus& Prom() {
  static auto* p = new AuthPrometheus();
  return *p;
}

TEST(PrometheusCredentials, TokenIsReadAtEveryQueryAndNeverShown) {
  AuthPrometheus& prom = Prom();
  std::string token_file = TempFile("token", std::string(kToken) + "\n");
  trigger::SpecOptions options;
  options.allow_static_endpoints = true;  // the stand-in listens on loopback
  options.prometheus_url = prom.url();
  options.prometheus_bearer_token_file = token_file;
  options.prometheus_headers = {"X-Scope-OrgID: tenant1"};
  auto s = trigger::BuildScalerSpec("nim", "llama", {{"dnsName", "pods.example"}, {"wakeQuery", "sum(x)"}}, options);
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  sources::PrometheusQuerySource source((*s)->prometheus_address, (*s)->wake_query, http, (*s)->wake_http);

  auto got = source.Evaluate();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, 4.0);
  EXPECT_EQ(prom.last_auth(), std::string("Bearer ") + kToken);

  // The token rotates (a projected token is replaced in place): the next query sends the new one.
  prom.Want(kRotated);
  std::ofstream(token_file, std::ios::trunc) << kRotated;
  got = source.Evaluate();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(prom.last_auth(), std::string("Bearer ") + kRotated);

  // Refused: the message says which credentials were sent, never the token.
  prom.Want("something-else");
  got = source.Evaluate();
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("Prometheus returned HTTP 401 Unauthorized: the bearer token from \"" +
                                                token_file + "\" was refused"));
  EXPECT_THAT(got.status().message(), Not(HasSubstr(kRotated)));

  // The file is gone: nothing is sent (not even without the token), and the error names the file.
  int before = prom.requests();
  std::filesystem::remove(token_file);
  got = source.Evaluate();
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("not sent: cannot read bearer token file \"" + token_file + "\""));
  EXPECT_EQ(prom.requests(), before);

  // An address allowed only through "*" gets no token: 401 with a hint at the flags.
  prom.Want(kToken);
  std::ofstream(token_file) << kToken;
  trigger::SpecOptions star = options;
  star.prometheus_url = "";
  star.prometheus_allowed = {"*"};
  auto other = trigger::BuildScalerSpec(
      "nim", "llama", {{"dnsName", "pods.example"}, {"wakeQuery", "sum(x)"}, {"prometheusAddress", prom.url()}}, star);
  ASSERT_TRUE(other.ok()) << other.status().message();
  sources::PrometheusQuerySource untrusted((*other)->prometheus_address, (*other)->wake_query, http,
                                           (*other)->wake_http);
  got = untrusted.Evaluate();
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("HTTP 401 Unauthorized: no credentials were sent"));
  EXPECT_EQ(prom.last_auth(), "");
}

}  // namespace
}  // namespace nimscaler
