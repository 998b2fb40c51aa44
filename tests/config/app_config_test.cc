#include "scaler/config/app_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace nimscaler::config {
namespace {

using ::testing::HasSubstr;

TEST(LoadAppConfig, DefaultsMatchTheProductSpec) {
  auto c = LoadAppConfig({}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->grpc_addr, ":9090");
  EXPECT_EQ(c->http_addr, ":8080");
  EXPECT_FALSE(c->allow_static_endpoints);
  EXPECT_EQ(c->kube_api, "auto");
}

TEST(LoadAppConfig, FlagBeatsEnvBeatsFile) {
  std::string path = ::testing::TempDir() + "/cfg.json";
  std::ofstream(path) << R"({"grpc-addr": ":1", "http-addr": ":2", "log-format": "json", "namespaces": ["a", "b"],
                             "allow-static-endpoints": true})";
  auto c = LoadAppConfig({"--config", path, "--grpc-addr=:3"},
                         {{"NIM_SCALER_HTTP_ADDR", ":4"}, {"NIM_SCALER_GRPC_ADDR", ":5"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->grpc_addr, ":3");
  EXPECT_EQ(c->http_addr, ":4");
  EXPECT_EQ(c->log_format, "json");
  EXPECT_TRUE(c->allow_static_endpoints);
  EXPECT_EQ(c->namespaces, (std::vector<std::string>{"a", "b"}));
}

TEST(LoadAppConfig, EveryProblemReportedWithSuggestions) {
  std::string path = ::testing::TempDir() + "/bad.json";
  std::ofstream(path) << R"({"grpc-adr": ":1"})";
  auto c = LoadAppConfig({"--log-format", "jsn", "--allow-static-endpoints=maybe", "--config", path, "--tls-key", "k"},
                         {{"NIM_SCALER_MIN_SCRAPE_INTERVAL", "fast"}});
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_THAT(m, HasSubstr("--log-format: value \"jsn\" must be one of json text (did you mean \"json\"?)"));
  EXPECT_THAT(m, HasSubstr("--allow-static-endpoints: value \"maybe\" must be true or false"));
  EXPECT_THAT(m, HasSubstr("unknown option key \"grpc-adr\" (did you mean \"grpc-addr\"?)"));
  EXPECT_THAT(m, HasSubstr("NIM_SCALER_MIN_SCRAPE_INTERVAL: value \"fast\" is not a duration"));
  EXPECT_THAT(m, HasSubstr("--tls-cert and --tls-key must be given together"));
}

// Issue 12 item 3: --peer-tls-ca checks the other replicas' certificates, so it is refused
// without TLS or without peers rather than silently unused.
TEST(LoadAppConfig, PeerTlsCaNeedsTlsAndPeers) {
  auto no_tls = LoadAppConfig({"--peer-tls-ca", "ca.crt", "--peers-service", "s", "--advertise-addr", "1.2.3.4:5"}, {});
  ASSERT_FALSE(no_tls.ok());
  EXPECT_THAT(no_tls.status().message(), HasSubstr("--peer-tls-ca needs --tls-cert, --tls-key and --peers-service"));
  auto no_peers = LoadAppConfig({"--peer-tls-ca", "ca.crt", "--tls-cert", "c", "--tls-key", "k"}, {});
  ASSERT_FALSE(no_peers.ok());
  EXPECT_THAT(no_peers.status().message(), HasSubstr("--peer-tls-ca needs"));
  auto ok = LoadAppConfig({"--peer-tls-ca", "ca.crt", "--tls-cert", "c", "--tls-key", "k", "--peers-service", "s",
                           "--advertise-addr", "1.2.3.4:5"},
                          {});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->peer_tls_ca, "ca.crt");
}

TEST(LoadAppConfig, MissingValueAndStrayArgument) {
  auto c = LoadAppConfig({"oops", "--grpc-addr"}, {});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("unexpected argument \"oops\""));
  EXPECT_THAT(c.status().message(), HasSubstr("flag --grpc-addr needs a value"));
}

TEST(LoadAppConfig, UnreadableOrInvalidJsonFile) {
  auto missing = LoadAppConfig({"--config", "/nonexistent/x.json"}, {});
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot read \"/nonexistent/x.json\""));
  std::string path = ::testing::TempDir() + "/broken.json";
  std::ofstream(path) << "{not json";
  auto broken = LoadAppConfig({}, {{"NIM_SCALER_CONFIG", path}});
  EXPECT_THAT(broken.status().message(), HasSubstr("not valid JSON"));
}

}  // namespace
}  // namespace nimscaler::config

namespace nimscaler::config {
namespace {

// Issue 19 item 4: the node's addresses (status.hostIP) reach the address rule through
// --node-ip / NIM_SCALER_NODE_IP; anything but numeric IPs is a startup error.
TEST(LoadAppConfig, NodeIpIsAListOfNumericAddresses) {
  auto none = LoadAppConfig({}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->node_ips.empty());
  auto env = LoadAppConfig({}, {{"NIM_SCALER_NODE_IP", "10.0.0.5, fd00::5"}});
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(env->node_ips, (std::vector<std::string>{"10.0.0.5", "fd00::5"}));
  auto bad = LoadAppConfig({"--node-ip", "10.0.0.5,node-a"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--node-ip: value \"node-a\" is not an IPv4 or IPv6 address"));
}

}  // namespace
}  // namespace nimscaler::config

namespace nimscaler::config {
namespace {

// Issue 14 item 5: the Prometheus client options. Headers are checked at startup: a malformed
// one, CR/LF (header injection) or an Authorization header is refused naming the flag and value.
TEST(LoadAppConfig, PrometheusClientOptions) {
  auto c = LoadAppConfig(
      {"--prometheus-bearer-token-file", "/var/run/prom/token", "--prometheus-ca-file", "/etc/prom/ca.crt",
       "--prometheus-header", "X-Scope-OrgID: tenant1", "--prometheus-header=X-Extra:  a b\tc  "},
      {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->prometheus_bearer_token_file, "/var/run/prom/token");
  EXPECT_EQ(c->prometheus_ca_file, "/etc/prom/ca.crt");
  EXPECT_EQ(c->prometheus_headers, (std::vector<std::string>{"X-Scope-OrgID: tenant1", "X-Extra: a b\tc"}));
  auto none = LoadAppConfig({}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->prometheus_headers.empty());
  EXPECT_TRUE(none->prometheus_bearer_token_file.empty());
}

TEST(LoadAppConfig, PrometheusHeadersRefusedAtStartup) {
  auto c = LoadAppConfig(
      {"--prometheus-header", "X-Scope-OrgID tenant1", "--prometheus-header", ": v", "--prometheus-header", "X Bad: v",
       "--prometheus-header", "X-A: b\r\nX-Injected: 1", "--prometheus-header", "X-Nul: a\x01", "--prometheus-header",
       "X-Empty:  ", "--prometheus-header", "authorization: Bearer s3cret", "--prometheus-header", "Host: evil",
       "--prometheus-header", "X-Ok: fine"},
      {});
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_THAT(m, HasSubstr("--prometheus-header: value \"X-Scope-OrgID tenant1\" must be \"Name: value\", e.g. "
                           "\"X-Scope-OrgID: tenant1\""));
  EXPECT_THAT(m, HasSubstr("--prometheus-header: value \": v\" must be \"Name: value\""));
  EXPECT_THAT(m, HasSubstr("--prometheus-header: value \"X Bad: v\": the header name \"X Bad\" may only hold"));
  EXPECT_THAT(m, HasSubstr("--prometheus-header: value \"X-A: b\\x0D\\x0AX-Injected: 1\": the header value may only "
                           "hold printable ASCII (no CR, LF"));
  EXPECT_THAT(m, HasSubstr("--prometheus-header: value \"X-Nul: a\\x01\": the header value may only hold"));
  EXPECT_THAT(m, HasSubstr("--prometheus-header: value \"X-Empty:  \": the header has no value"));
  EXPECT_THAT(m, HasSubstr("give the token with --prometheus-bearer-token-file"));
  EXPECT_THAT(m, HasSubstr("--prometheus-header: value \"Host: evil\": the scaler sets Host itself"));
  EXPECT_THAT(m, ::testing::Not(HasSubstr("X-Ok")));
  // A raw CR or LF never reaches the message (it would split a log line).
  EXPECT_EQ(m.find('\r'), std::string::npos);
}

// The header list follows the same precedence as every option, each source replacing the
// lower ones as a whole: flags > env (one header per line) > file (a string or a list).
TEST(LoadAppConfig, PrometheusHeadersPrecedence) {
  std::string path = ::testing::TempDir() + "/headers.json";
  std::ofstream(path) << R"({"prometheus-header": ["X-Scope-OrgID: file", "X-B: has, a comma"]})";
  auto file = LoadAppConfig({"--config", path}, {});
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->prometheus_headers, (std::vector<std::string>{"X-Scope-OrgID: file", "X-B: has, a comma"}));
  auto env = LoadAppConfig({"--config", path}, {{"NIM_SCALER_PROMETHEUS_HEADER", "X-Scope-OrgID: env\nX-C: c\n"}});
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(env->prometheus_headers, (std::vector<std::string>{"X-Scope-OrgID: env", "X-C: c"}));
  auto flag = LoadAppConfig({"--config", path, "--prometheus-header", "X-Scope-OrgID: flag"},
                            {{"NIM_SCALER_PROMETHEUS_HEADER", "X-Scope-OrgID: env"}});
  ASSERT_TRUE(flag.ok()) << flag.status().message();
  EXPECT_EQ(flag->prometheus_headers, (std::vector<std::string>{"X-Scope-OrgID: flag"}));
  std::string bad = ::testing::TempDir() + "/headers-bad.json";
  std::ofstream(bad) << R"({"prometheus-header": [7, "nope"]})";
  auto refused = LoadAppConfig({"--config", bad}, {{"NIM_SCALER_PROMETHEUS_HEADER", "X-D d"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              HasSubstr("key \"prometheus-header\": expected a string or a list of strings"));
  EXPECT_THAT(refused.status().message(),
              HasSubstr("key \"prometheus-header\": value \"nope\" must be \"Name: value\""));
  EXPECT_THAT(refused.status().message(), HasSubstr("NIM_SCALER_PROMETHEUS_HEADER: value \"X-D d\" must be"));
}

}  // namespace
}  // namespace nimscaler::config
