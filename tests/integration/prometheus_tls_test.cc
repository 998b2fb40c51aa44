// Issue 14 item 5 acceptance: "with token/CA options, a wakeQuery against an HTTPS Prometheus that
// requires a bearer token works". The real `nim-scaler serve`, a real Prometheus (Debian's) behind
// a loopback TLS gateway (tests/fakes/tls_auth_proxy.h) that wants a bearer token and a tenant
// header, certificates made in the test. Checked: with --prometheus-ca-file,
// --prometheus-bearer-token-file and --prometheus-header the wakeQuery wakes the trigger, also
// after the token file is rotated; without the token the trigger shows the 401; without the CA
// it shows the TLS verification failure (and no token left the process); the token is in no
// log line and not in /debug. Missing files are startup errors (exit 2 naming flag and path).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "externalscaler.grpc.pb.h"
#include "scaler/net/http_client.h"
#include "tests/app/test_pki.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_kube_api.h"
#include "tests/fakes/prometheus_server.h"
#include "tests/fakes/tls_auth_proxy.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "prom-token-5d1e7a90c3";
constexpr const char* kRotated = "prom-token-rotated-88f0b2";
constexpr const char* kQuery = "vector(3)";  // demand 3, evaluated by the real Prometheus

std::string Binary() { return std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler"; }

std::string WriteFile(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/nimscaler-prom-tls-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

// One running `nim-scaler serve` tracking one ScaledObject (scaled to zero) with a wakeQuery.
class Scaler {
 public:
  Scaler(const std::string& kube_api, std::vector<std::string> extra) {
    std::vector<std::string> argv = {Binary(),
                                     "serve",
                                     "--grpc-addr",
                                     "127.0.0.1:0",
                                     "--http-addr",
                                     "127.0.0.1:0",
                                     "--kube-api",
                                     kube_api,
                                     "--min-scrape-interval",
                                     "100ms",
                                     "--log-level",
                                     "trace",                      // the most the scaler ever logs: still no token
                                     "--allow-static-endpoints"};  // the gateway listens on loopback
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_ = std::make_unique<testing::ChildProcess>(argv);
    auto m = child_->WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
    if (m.empty()) throw std::runtime_error("nim-scaler did not start:\n" + child_->output());
    http_base_ = "http://127.0.0.1:" + m[2].str();
    stub_ = externalscaler::ExternalScaler::NewStub(
        grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
    ref_.set_name("llama");
    ref_.set_namespace_("nim");
    auto& md = *ref_.mutable_scalermetadata();
    md["service"] = "llama";
    md["port"] = "http";
    md["engine"] = "nim";
    md["scrapeInterval"] = "200ms";
    md["window"] = "400ms";
    md["panicWindow"] = "200ms";
    md["wakeQuery"] = kQuery;  // no prometheusAddress: the server's --prometheus-url
    md["wakeHold"] = "1h";
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse r;
    grpc::Status s = stub_->GetMetricSpec(&ctx, ref_, &r);
    if (!s.ok()) throw std::runtime_error("GetMetricSpec: " + s.error_message());
  }

  /// IsActive: "true", "false", or the error (UNAVAILABLE until the first collection is done).
  std::string Active() {
    grpc::ClientContext ctx;
    externalscaler::IsActiveResponse r;
    grpc::Status s = stub_->IsActive(&ctx, ref_, &r);
    if (!s.ok()) return "error: " + s.error_message();
    return r.result() ? "true" : "false";
  }
  bool WaitActive(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Active() == "true") return true;
      std::this_thread::sleep_for(50ms);
    }
    return Active() == "true";
  }
  std::string Debug() {
    auto r = http_->Get(http_base_ + "/debug/scaledobjects", {});
    return r.ok() ? r->body : r.status().message();
  }
  /// Waits until /debug shows a wakeError containing `text`; returns the last /debug body.
  std::string WaitForWakeError(const std::string& text, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string body;
    while (std::chrono::steady_clock::now() < deadline) {
      body = Debug();
      auto at = body.find("\"wakeError\"");
      if (at != std::string::npos && body.find(text, at) != std::string::npos) return body;
      std::this_thread::sleep_for(50ms);
    }
    return body;
  }
  std::string output() { return child_->output(); }

 private:
  std::unique_ptr<testing::ChildProcess> child_;
  std::string http_base_;
  std::unique_ptr<externalscaler::ExternalScaler::Stub> stub_;
  externalscaler::ScaledObjectRef ref_;
  std::shared_ptr<net::HttpClient> http_ = net::MakeCurlHttpClient();
};

TEST(PrometheusTls, WakeQueryAgainstAnHttpsPrometheusThatRequiresABearerToken) {
  if (!testing::PrometheusServer::Available()) GTEST_SKIP() << "needs Debian's prometheus package";
  // A real Prometheus on plain loopback HTTP (it scrapes nothing: its first scrape would come
  // about 5 s after start, and WakeTest.WakeQueryAgainstARealPrometheusWakesFromZero already
  // wakes on a scraped series; the query here is a constant Prometheus evaluates)...
  testing::PrometheusServer prom({}, "/metrics", "1s");
  // ...reachable only through HTTPS with a bearer token and a tenant, as behind an auth gateway.
  testing::PemPair pem = testing::MakeSelfSigned("nim-scaler test Prometheus CA");
  testing::TlsAuthProxy proxy(prom.url(), pem.cert, pem.key, kToken, {{"X-Scope-OrgID", "tenant1"}});
  std::string ca_file = WriteFile("ca.pem", pem.cert);
  std::string token_file = WriteFile("token", std::string(kToken) + "\n");
  testing::FakeKubeApi api("nim", "llama");  // the model's Service has no pods: scaled to zero

  const std::vector<std::string> url = {"--prometheus-url", proxy.url()};
  const std::vector<std::string> ca = {"--prometheus-ca-file", ca_file};
  const std::vector<std::string> token = {"--prometheus-bearer-token-file", token_file};
  const std::vector<std::string> tenant = {"--prometheus-header", "X-Scope-OrgID: tenant1"};
  auto args = [](std::initializer_list<std::vector<std::string>> parts) {
    std::vector<std::string> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };

  {
    SCOPED_TRACE("(1) CA, token and tenant header: the wakeQuery wakes the trigger");
    Scaler scaler(api.url(), args({url, ca, token, tenant}));
    ASSERT_TRUE(scaler.WaitActive(3s)) << scaler.Debug() << scaler.output();
    testing::TlsAuthProxy::Seen seen = proxy.seen();
    EXPECT_EQ(seen.handshake_failures, 0);
    EXPECT_EQ(seen.unauthorized, 0);
    EXPECT_EQ(seen.forbidden, 0);
    EXPECT_GE(seen.forwarded, 1);
    EXPECT_EQ(scaler.Debug().find("wakeError"), std::string::npos) << scaler.Debug();

    // The token rotates in place (a projected token): the next queries carry the new one.
    proxy.SetToken(kRotated);
    proxy.Reset();
    std::ofstream(token_file, std::ios::trunc) << kRotated << "\n";
    bool rotated = false;
    for (int i = 0; i < 40 && !rotated; ++i) {
      std::this_thread::sleep_for(50ms);
      auto s = proxy.seen();
      rotated = !s.authorizations.empty() && s.authorizations.back() == std::string("Bearer ") + kRotated;
    }
    EXPECT_TRUE(rotated) << scaler.Debug();
    std::this_thread::sleep_for(300ms);  // a cycle or more after the rotation: no error left
    EXPECT_EQ(scaler.Debug().find("wakeError"), std::string::npos) << scaler.Debug();

    // (4) The token is in no log line (at trace level) and not in /debug.
    std::string debug = scaler.Debug();
    std::string out = scaler.output();
    for (const char* secret : {kToken, kRotated}) {
      EXPECT_EQ(debug.find(secret), std::string::npos) << debug;
      EXPECT_EQ(out.find(secret), std::string::npos) << out;
    }
    EXPECT_NE(out.find("wakeQuery: bearer token from " + token_file + ", CA file " + ca_file +
                       ", header X-Scope-OrgID for " + proxy.url()),
              std::string::npos)
        << out;
    std::ofstream(token_file, std::ios::trunc) << kToken << "\n";
    proxy.SetToken(kToken);
  }
  {
    SCOPED_TRACE("(2) no token: the trigger shows the gateway's 401");
    proxy.Reset();
    Scaler scaler(api.url(), args({url, ca, tenant}));
    std::string debug = scaler.WaitForWakeError("HTTP 401 Unauthorized", 3s);
    EXPECT_NE(debug.find("wakeQuery: Prometheus returned HTTP 401 Unauthorized: no credentials were sent"),
              std::string::npos)
        << debug;
    EXPECT_EQ(scaler.Active(), "false");
    EXPECT_NE(scaler.output().find("HTTP 401 Unauthorized"), std::string::npos) << scaler.output();
    EXPECT_GE(proxy.seen().unauthorized, 1);
  }
  {
    SCOPED_TRACE("(3) no CA: the trigger shows the TLS verification failure; no token was sent");
    proxy.Reset();
    Scaler scaler(api.url(), args({url, token, tenant}));
    std::string debug = scaler.WaitForWakeError("failed TLS verification", 3s);
    EXPECT_NE(debug.find("wakeQuery: GET " + proxy.url() + "/api/v1/query?query="), std::string::npos) << debug;
    EXPECT_NE(debug.find("failed TLS verification: SSL certificate problem"), std::string::npos) << debug;
    EXPECT_NE(debug.find("(verified against the system CA store)"), std::string::npos) << debug;
    EXPECT_EQ(scaler.Active(), "false");
    testing::TlsAuthProxy::Seen seen = proxy.seen();
    EXPECT_GE(seen.handshake_failures, 1);
    EXPECT_TRUE(seen.authorizations.empty()) << "no request may follow a failed verification";
    EXPECT_EQ(scaler.output().find(kToken), std::string::npos);
  }
}

// Unreadable credential files stop the server at startup with exit 2, naming flag and path.
TEST(PrometheusTls, MissingOrBadFilesAreStartupErrors) {
  std::string not_pem = WriteFile("not-pem", "hello\n");
  std::string empty = WriteFile("empty-token", "\n");
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  };
  for (const Case& c :
       {Case{{"--prometheus-bearer-token-file", "/nonexistent/token"},
             "--prometheus-bearer-token-file: cannot read bearer token file \"/nonexistent/token\": "
             "No such file or directory"},
        Case{{"--prometheus-bearer-token-file", empty},
             "--prometheus-bearer-token-file: bearer token file \"" + empty + "\" is empty"},
        Case{{"--prometheus-ca-file", "/nonexistent/ca.pem"},
             "--prometheus-ca-file: cannot read \"/nonexistent/ca.pem\": No such file or directory"},
        Case{{"--prometheus-ca-file", not_pem}, "--prometheus-ca-file: \"" + not_pem + "\" holds no PEM certificate"},
        Case{{"--prometheus-header", "X-Scope-OrgID: a\r\nX-Injected: 1"},
             "--prometheus-header: value \"X-Scope-OrgID: a\\x0D\\x0AX-Injected: 1\": the header value "
             "may only hold printable ASCII"}}) {
    std::vector<std::string> argv = {Binary(),      "serve",       "--grpc-addr", "127.0.0.1:0",
                                     "--http-addr", "127.0.0.1:0", "--kube-api",  "off"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    testing::ChildProcess p(argv);
    EXPECT_EQ(p.Wait(10s), 2) << p.output();
    EXPECT_NE(p.output().find(c.says), std::string::npos) << p.output();
    EXPECT_EQ(p.output().find("serving"), std::string::npos) << p.output();
  }
}

}  // namespace
}  // namespace nimscaler
