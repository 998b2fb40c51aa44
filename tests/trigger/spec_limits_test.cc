// Issue 19, the spec's part: metadata size limits (item 10), bounded and linear error text
// (item 9), a collision-free metadata encoding (item 5), URLs stored without credentials
// (item 6) and the address rule switched on for dnsName (item 4). Pure: no network.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scaler/trigger/scaler_spec.h"
#include "tests/trigger/spec_fixtures.h"

namespace nimscaler::trigger {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string MessageOf(const config::Metadata& md, const SpecOptions& options = kAllow) {
  auto spec = BuildScalerSpec("nim", "llama", md, options);
  EXPECT_FALSE(spec.ok());
  if (spec.ok()) return {};
  EXPECT_EQ(spec.status().code(), Code::kInvalidArgument);
  return spec.status().message();
}

// Issue 19 item 9: 10k unknown keys gave a 269 KB error. Now at most ten problems are listed,
// then "and N more", and the text stays under 4 KiB.
TEST(SpecLimits, ManyUnknownKeysGiveABoundedMessage) {
  config::Metadata md{{"endpoints", kPod}};
  for (int i = 0; i < 250; ++i) md["unknownKey" + std::to_string(i)] = std::string(200, 'v');
  std::string m = MessageOf(md);
  EXPECT_THAT(m, HasSubstr("(250 problems)"));
  EXPECT_THAT(m, HasSubstr("and 240 more"));
  EXPECT_LT(m.size(), 4096u);
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

// Issue 19 item 10: more than 256 keys, a key over 256 bytes, a value over 64 KiB, over
// 256 KiB in all: refused before anything else is read, naming the key and the limit.
TEST(SpecLimits, OversizedMapsAreRefusedNamingTheLimit) {
  config::Metadata many{{"endpoints", kPod}};
  for (int i = 0; i < 10000; ++i) many["k" + std::to_string(i)] = "v";
  std::string m = MessageOf(many);
  EXPECT_THAT(m, HasSubstr("10001 keys; at most 256"));
  EXPECT_LT(m.size(), 200u) << "only the limit is reported, not 10,000 unknown keys";

  m = MessageOf({{"endpoints", kPod}, {std::string(257, 'k'), "1"}});
  EXPECT_THAT(m, HasSubstr("is 257 bytes long; keys may be at most 256 bytes"));
  EXPECT_THAT(m, HasSubstr("\"kkkk"));

  m = MessageOf({{"endpoints", kPod}, {"formula", std::string(65537, 'x')}});
  EXPECT_THAT(m, HasSubstr("the value of key \"formula\" is 65537 bytes long; values may be at most 65536"));

  config::Metadata big{{"endpoints", kPod}};
  for (int i = 0; i < 5; ++i) big["signal.s" + std::to_string(i)] = std::string(60000, 'x');
  m = MessageOf(big);
  EXPECT_THAT(m, HasSubstr("bytes of keys and values; at most 262144"));

  // At the limits exactly: no limit error (the map is still checked as usual).
  config::Metadata edge{{"endpoints", kPod}, {"metricName", "ok"}};
  edge[std::string(256, 'k')] = std::string(65536, 'v');
  m = MessageOf(edge);
  EXPECT_THAT(m, HasSubstr("unknown key"));
  EXPECT_THAT(m, Not(HasSubstr("at most")));
}

// Issue 19 item 9: a long formula error (a caret block per problem) is bounded too.
TEST(SpecLimits, LongFormulaErrorsAreBounded) {
  std::string formula = "sum(kv_cache) + " + std::string(60000, '(');
  std::string m = MessageOf({{"endpoints", kPod}, {"formula", formula}, {"activation", formula}});
  EXPECT_LT(m.size(), 4096u);
  EXPECT_EQ(m.rfind("invalid trigger metadata (2 problems): formula:", 0), 0u) << m.substr(0, 200);
}

// Issue 19 item 5: the old 64-bit hash lets a value embed its separators and collide with
// another map; the canonical encoding is equal exactly when the maps are.
TEST(CanonicalMetadata, EqualExactlyWhenTheMapsAreEqual) {
  config::Metadata real{{"model", "llama"}, {"scrapeInterval", "60s"}, {"targetKvCache", "0.1"}};
  config::Metadata forged{
      {"model", std::string("llama\1scrapeInterval\0", 21) + "60s" + std::string("\1targetKvCache\0", 15) + "0.1"}};
  ASSERT_EQ(HashMetadata(real), HashMetadata(forged)) << "a real collision of the old hash";
  EXPECT_NE(CanonicalMetadata(real), CanonicalMetadata(forged));

  const config::Metadata maps[] = {{},
                                   {{"", ""}},
                                   {{"a", ""}},
                                   {{"", "a"}},
                                   {{"ab", "c"}},
                                   {{"a", "bc"}},
                                   {{"a", "1:b"}},
                                   {{"a", "1"}, {"b", ""}},
                                   {{"1:a", ""}},
                                   {{"a", "b"}, {"c", "d"}},
                                   {{"a", "b1:c1:d"}}};
  for (const auto& a : maps) {
    for (const auto& b : maps) {
      EXPECT_EQ(CanonicalMetadata(a) == CanonicalMetadata(b), a == b)
          << "'" << CanonicalMetadata(a) << "' vs '" << CanonicalMetadata(b) << "'";
    }
  }
  config::Metadata reordered;
  reordered["targetKvCache"] = "0.1";
  reordered["model"] = "llama";
  reordered["scrapeInterval"] = "60s";
  EXPECT_EQ(CanonicalMetadata(reordered), CanonicalMetadata(real));
  EXPECT_EQ(CanonicalMetadata({{"ab", "c"}}), "2:ab1:c");
}

// Issue 19 item 6: credentials in endpoint URLs never reach the stored (shown) URLs; they go
// to the HTTP client as basic auth.
TEST(SpecCredentials, EndpointUserinfoBecomesBasicAuth) {
  auto spec = BuildScalerSpec("nim", "llama",
                              {{"endpoints",
                                "http://scraper:s3cr%40t@10.0.0.7:8000/v1/metrics, "
                                "http://scraper:s3cr%40t@10.0.0.8:8000"},
                               {"engine", "nim"}},
                              kAllow);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ((*spec)->discovery.urls, (std::vector<std::string>{kPod, "http://10.0.0.8:8000/v1/metrics"}));
  EXPECT_TRUE((*spec)->scrape.http.basic_auth);
  EXPECT_EQ((*spec)->scrape.http.username, "scraper");
  EXPECT_EQ((*spec)->scrape.http.password, "s3cr@t");

  auto plain = BuildScalerSpec("nim", "llama", {{"endpoints", kPod}}, kAllow);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->scrape.http.basic_auth);
}

TEST(SpecCredentials, ErrorsNeverEchoCredentials) {
  std::string m = MessageOf({{"endpoints", "ftp://admin:hunter2@10.0.0.7/metrics"}});
  EXPECT_THAT(m, HasSubstr("\"ftp://10.0.0.7/metrics\" is not an http(s) URL"));
  EXPECT_THAT(m, Not(HasSubstr("hunter2")));
  m = MessageOf({{"endpoints", "http://a:1@10.0.0.7:8000/m,http://b:2@10.0.0.8:8000/m"}});
  EXPECT_THAT(m, HasSubstr("different credentials"));
  m = MessageOf({{"endpoints", kPod}, {"wakeQuery", "sum(x)"}, {"prometheusAddress", "admin:hunter2@prom:9090"}});
  EXPECT_THAT(m, HasSubstr("prometheusAddress: \"prom:9090\" must be an http(s) URL"));
  EXPECT_THAT(m, Not(HasSubstr("hunter2")));
  m = MessageOf({{"dnsName", "admin:hunter2@llama"}});
  EXPECT_THAT(m, HasSubstr("dnsName: \"llama\" is not a DNS name"));
  EXPECT_THAT(m, Not(HasSubstr("hunter2")));
}

TEST(SpecCredentials, PrometheusAddressUserinfoBecomesBasicAuth) {
  auto spec = BuildScalerSpec("nim", "llama",
                              {{"endpoints", kPod},
                               {"wakeQuery", "sum(rate(gateway_requests_total[1m]))"},
                               {"prometheusAddress", "https://reader:t%3Aok@prometheus.monitoring:9090/"}},
                              kAllow);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ((*spec)->prometheus_address, "https://prometheus.monitoring:9090/");
  EXPECT_TRUE((*spec)->wake_http.basic_auth);
  EXPECT_EQ((*spec)->wake_http.username, "reader");
  EXPECT_EQ((*spec)->wake_http.password, "t:ok");
  EXPECT_FALSE((*spec)->wake_http.refuse_internal_addresses) << "the server allows static endpoints";
}

// Issue 14 item 5: prometheusAddress makes the scaler fetch a URL the ScaledObject's author
// chose, so only the operator's --prometheus-url and --prometheus-allow are accepted; without
// prometheusAddress, wakeQuery runs on the server's --prometheus-url.
TEST(SpecPrometheusAllowList, OnlyTheOperatorsPrometheusUnlessAllowed) {
  config::Metadata md{{"service", "llama"}, {"wakeQuery", "up"}, {"prometheusAddress", "http://evil.example:80/x"}};
  std::string m = MessageOf(md, {});
  EXPECT_THAT(m, HasSubstr("prometheusAddress: \"http://evil.example:80/x\" is not allowed by this server (none is: it "
                           "has no --prometheus-url); leave it out to use the server's Prometheus, or ask the operator "
                           "to add it to --prometheus-allow"));
  SpecOptions ops{.prometheus_url = "http://prometheus.monitoring:9090",
                  .prometheus_allowed = {"https://thanos.monitoring:10902/"}};
  m = MessageOf(md, ops);
  EXPECT_THAT(m, HasSubstr("(allowed: http://prometheus.monitoring:9090, https://thanos.monitoring:10902/)"));
  for (const char* ok : {"http://prometheus.monitoring:9090", "http://prometheus.monitoring:9090/",
                         "https://thanos.monitoring:10902", "https://thanos.monitoring:10902/tenant-a"}) {
    md["prometheusAddress"] = ok;
    auto s = BuildScalerSpec("nim", "llama", md, ops);
    EXPECT_TRUE(s.ok()) << ok << ": " << s.status().message();
  }
  for (const char* bad :
       {"https://thanos.monitoring:109020", "http://prometheus.monitoring:90", "http://127.0.0.1:9090"}) {
    md["prometheusAddress"] = bad;
    EXPECT_FALSE(BuildScalerSpec("nim", "llama", md, ops).ok()) << bad << " is only a prefix or another host";
  }
  // No prometheusAddress: the server's Prometheus.
  md.erase("prometheusAddress");
  auto server = BuildScalerSpec("nim", "llama", md, ops);
  ASSERT_TRUE(server.ok()) << server.status().message();
  EXPECT_EQ((*server)->prometheus_address, "http://prometheus.monitoring:9090");
  EXPECT_THAT(MessageOf(md, {}), HasSubstr("wakeQuery needs prometheusAddress (the Prometheus server to ask), or a "
                                           "server started with --prometheus-url"));
  // "*" and --allow-static-endpoints allow any address.
  md["prometheusAddress"] = "http://anything.example:9090";
  EXPECT_TRUE(BuildScalerSpec("nim", "llama", md, {.prometheus_allowed = {"*"}}).ok());
  EXPECT_TRUE(BuildScalerSpec("nim", "llama", md, {.allow_static_endpoints = true}).ok());
}

// Issue 19 item 4: dnsName (and prometheusAddress) are the author's choice of address; without
// --allow-static-endpoints the HTTP client is told to refuse this host and its link.
TEST(SpecAddressRule, DnsNameAndWakeQueryRefuseInternalAddressesUnlessAllowed) {
  config::Metadata md{{"dnsName", "127.0.0.1"},
                      {"port", "9100"},
                      {"metricsPath", "/anything"},
                      {"wakeQuery", "up"},
                      {"prometheusAddress", "http://127.0.0.1:9090"}};
  // The operator allows any Prometheus (issue 14 item 5); the address rule still applies.
  auto strict = BuildScalerSpec("nim", "llama", md, {.prometheus_allowed = {"*"}});
  ASSERT_TRUE(strict.ok()) << strict.status().message();
  EXPECT_TRUE((*strict)->scrape.http.refuse_internal_addresses);
  EXPECT_TRUE((*strict)->wake_http.refuse_internal_addresses);
  auto allowed = BuildScalerSpec("nim", "llama", md, kAllow);
  ASSERT_TRUE(allowed.ok());
  EXPECT_FALSE((*allowed)->scrape.http.refuse_internal_addresses);
  EXPECT_FALSE((*allowed)->wake_http.refuse_internal_addresses);
  // Pods listed by the Kubernetes API are not the author's choice (and may be hostNetwork pods
  // on the node's own address).
  auto service = BuildScalerSpec("nim", "llama", {{"service", "llama"}}, {});
  ASSERT_TRUE(service.ok());
  EXPECT_FALSE((*service)->scrape.http.refuse_internal_addresses);
}

// A long URL or metric name used to go through std::regex, which recurses per byte.
TEST(SpecLimits, LongValuesAreCheckedWithoutRegexRecursion) {
  std::string url = "http://10.0.0.7:8000/" + std::string(65000, 'p');
  auto spec = BuildScalerSpec("nim", "llama", {{"endpoints", url}}, kAllow);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ((*spec)->discovery.urls.at(0), url);
  std::string m = MessageOf({{"endpoints", "http://10.0.0.7:8000/" + std::string(65000, ' ') + "x"}});
  EXPECT_THAT(m, HasSubstr("is not an http(s) URL"));
  m = MessageOf({{"endpoints", std::string(30000, ',') + "x"}});
  EXPECT_THAT(m, HasSubstr("\"x\" is not an http(s) URL"));
  std::string many;
  for (int i = 0; i < 300; ++i) many += "http://10.0.0." + std::to_string(i % 250) + ":1/m,";
  m = MessageOf({{"endpoints", many}});
  EXPECT_THAT(m, HasSubstr("endpoints: 300 URLs; at most 256"));
  m = MessageOf({{"endpoints", kPod}, {"metricName", "s12-" + std::string(100, 'a')}});
  EXPECT_THAT(m, HasSubstr("not start with s<N>-"));
  auto ok = BuildScalerSpec("nim", "llama", {{"endpoints", kPod}, {"metricName", "s-12.x"}}, kAllow);
  EXPECT_TRUE(ok.ok()) << ok.status().message();
}

}  // namespace
}  // namespace nimscaler::trigger
