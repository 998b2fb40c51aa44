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
