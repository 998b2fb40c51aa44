// Metadata tables: each row is a trigger metadata map and what BuildScalerSpec must say.
#include "scaler/trigger/scaler_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scaler/common/signal_vocabulary.h"
#include "scaler/trigger/trigger_metadata.h"
#include "tests/trigger/spec_fixtures.h"

namespace nimscaler::trigger {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

struct GoodRow {
  const char* why;
  config::Metadata md;
  std::string formula;
  Duration interval;
  std::string endpoint;
};

TEST(BuildScalerSpec, GoodRows) {
  const GoodRow rows[] = {
      {"article case: NIM, KV target 0.1",
       {{"endpoints", kPod}, {"engine", "nim"}, {"targetKvCache", "0.1"}},
       "sum(kv_cache)/0.1",
       2s,
       kPod},
      {"no targets: product defaults 0.8 KV and 4 waiting",
       {{"endpoints", kPod}, {"engine", "nim"}},
       "max(sum(kv_cache)/0.8, sum(waiting)/4)",
       2s,
       kPod},
      {"every target, custom interval",
       {{"endpoints", kPod},
        {"engine", "vllm"},
        {"targetKvCache", "0.7"},
        {"targetWaiting", "4"},
        {"targetRunning", "64"},
        {"scrapeInterval", "1s"}},
       "max(sum(kv_cache)/0.7, sum(waiting)/4, sum(running)/64)",
       1s,
       kPod},
      {"request rate per replica (Knative's requests-per-second target)",
       {{"endpoints", kPod}, {"engine", "nim"}, {"targetRequestRate", "20"}, {"targetWaiting", "4"}},
       "max(sum(waiting)/4, rate(requests)/20)",
       2s,
       kPod},
      {"URL without path gets the engine's path (nim: /v1/metrics)",
       {{"endpoints", "http://10.0.0.7:8000"}, {"engine", "nim"}},
       "max(sum(kv_cache)/0.8, sum(waiting)/4)",
       2s,
       kPod},
      {"vLLM default path",
       {{"endpoints", "http://10.0.0.7:8000/"}, {"engine", "vllm"}},
       "max(sum(kv_cache)/0.8, sum(waiting)/4)",
       2s,
       "http://10.0.0.7:8000/metrics"},
      {"KEDA's own keys and *FromEnv are accepted silently",
       {{"endpoints", kPod},
        {"scalerAddress", "x:9090"},
        {"enableTLS", "true"},
        {"unsafeSsl", "false"},
        {"targetFromEnv", "7"},
        {"engine", "NIM"}},
       "max(sum(kv_cache)/0.8, sum(waiting)/4)",
       2s,
       kPod},
      {"metricsPath for engine auto",
       {{"endpoints", "http://10.0.0.7:8000"}, {"metricsPath", "v1/metrics"}},
       "max(sum(kv_cache)/0.8, sum(waiting)/4)",
       2s,
       kPod},
  };
  for (const auto& r : rows) {
    auto spec = BuildScalerSpec("nim", "llama", r.md, kAllow);
    ASSERT_TRUE(spec.ok()) << r.why << ": " << spec.status().message();
    EXPECT_EQ((*spec)->FormulaText(), r.formula) << r.why;
    EXPECT_EQ((*spec)->scrape_interval, r.interval) << r.why;
    EXPECT_EQ((*spec)->stale_keep, 3 * r.interval) << r.why;
    ASSERT_EQ((*spec)->discovery.urls.size(), 1u) << r.why;
    EXPECT_EQ((*spec)->discovery.urls[0], r.endpoint) << r.why;
    EXPECT_EQ((*spec)->metric_name, "nim-nim-llama") << r.why;
    EXPECT_EQ((*spec)->target_size, 1.0) << r.why;
  }
}

struct BadRow {
  const char* why;
  config::Metadata md;
  std::vector<std::string> want;  // substrings of the one message
  SpecOptions options = kAllow;
};

TEST(BuildScalerSpec, BadRowsReportEveryProblemInOneLine) {
  const BadRow rows[] = {
      {"acceptance: misspelt key and bad duration, both named",
       {{"endpoints", kPod}, {"targetKvCach", "0.1"}, {"scrapeInterval", "fast"}},
       {"2 problems", "unknown key \"targetKvCach\" (did you mean \"targetKvCache\"?)",
        "scrapeInterval: \"fast\" is not a duration"}},
      {"KV target given as a percentage",
       {{"endpoints", kPod}, {"targetKvCache", "50"}},
       {"targetKvCache: \"50\" must be a fraction between 0 and 1", "did you mean \"0.5\"?"}},
      {"KV target above 100",
       {{"endpoints", kPod}, {"targetKvCache", "700"}},
       {"targetKvCache: \"700\" is out of range"}},
      {"zero target would make the HPA invalid",
       {{"endpoints", kPod}, {"targetWaiting", "0"}},
       {"targetWaiting: \"0\" is out of range; expected a number greater than 0"}},
      {"negative target", {{"endpoints", kPod}, {"targetRunning", "-3"}}, {"targetRunning: \"-3\" is out of range"}},
      {"number where a number is expected but with junk",
       {{"endpoints", kPod}, {"targetWaiting", "4 requests"}},
       {"targetWaiting: \"4 requests\" is not a number"}},
      {"bare number as a duration",
       {{"endpoints", kPod}, {"scrapeInterval", "2"}},
       {"scrapeInterval: \"2\" is not a duration", "did you mean \"2s\"?"}},
      {"interval below the server minimum",
       {{"endpoints", kPod}, {"scrapeInterval", "100ms"}},
       {"scrapeInterval: \"100ms\" is below this server's minimum of 500ms"}},
      {"interval above 5 minutes",
       {{"endpoints", kPod}, {"scrapeInterval", "1h"}},
       {"scrapeInterval: \"1h\" is out of range"}},
      {"unknown engine with suggestion",
       {{"endpoints", kPod}, {"engine", "vlm"}},
       {"engine: \"vlm\" must be one of auto, nim, vllm, sglang, tgi, triton, trtllm (did you mean \"vllm\"?)"}},
      {"static endpoints refused by server policy",
       {{"endpoints", kPod}},
       {"static endpoints are refused", "--allow-static-endpoints"},
       SpecOptions{}},
      {"no discovery at all", {{"engine", "nim"}}, {"no pods to read: set \"service\""}},
      {"two discovery sources", {{"endpoints", kPod}, {"service", "llama"}}, {"set exactly one"}},
      {"service while the server has no Kubernetes API",
       {{"service", "llama"}},
       {"service: Kubernetes discovery is off on this server"},
       SpecOptions{.kube_enabled = false}},
      {"namespace outside --namespaces",
       {{"service", "llama"}},
       {"namespace \"nim\" is not in this server's --namespaces"},
       SpecOptions{.namespaces = {"other"}}},
      {"dnsName needs a numeric port",
       {{"dnsName", "llama-headless"}, {"port", "http"}},
       {"port: with dnsName the port must be a number"}},
      {"port out of range", {{"service", "llama"}, {"port", "70000"}}, {"port: \"70000\" must be 1-65535"}},
      {"scheme typo", {{"service", "llama"}, {"scheme", "htps"}}, {"did you mean \"https\""}},
      {"not a URL", {{"endpoints", "10.0.0.7:8000"}}, {"endpoints: \"10.0.0.7:8000\" is not an http(s) URL"}},
      {"ftp URL", {{"endpoints", "ftp://10.0.0.7/metrics"}}, {"is not an http(s) URL"}},
      {"no path with engine auto", {{"endpoints", "http://10.0.0.7:8000"}}, {"has no path and engine is auto"}},
      {"bad metricName",
       {{"endpoints", kPod}, {"metricName", "S0-My_Metric"}},
       {"metricName: \"S0-My_Metric\" must match"}},
      {"metricName that KEDA would double-prefix",
       {{"endpoints", kPod}, {"metricName", "s0-kv"}},
       {"not start with s<N>-"}},
      {"wakeQuery without a Prometheus to ask",
       {{"endpoints", kPod}, {"wakeQuery", "sum(x)"}},
       {"wakeQuery needs prometheusAddress"}},
      {"formula typo points at the column",
       {{"endpoints", kPod}, {"formula", "sum(kv_cahce)/0.7"}},
       {"formula: formula:1:5: unknown signal 'kv_cahce', did you mean 'kv_cache'?"}},
      {"formula and targets together",
       {{"endpoints", kPod}, {"formula", "sum(waiting)"}, {"targetWaiting", "4"}},
       {"formula and target* keys are alternatives"}},
      {"panic window longer than the window",
       {{"endpoints", kPod}, {"window", "10s"}, {"panicWindow", "20s"}},
       {"panicWindow: \"20s\" must not be longer than window (10s)"}},
      {"window too short for two scrapes",
       {{"endpoints", kPod}, {"window", "3s"}, {"panicWindow", "1s"}},
       {"window: \"3s\" must cover at least two scrapes"}},
      {"signal mapping without a metric name",
       {{"endpoints", kPod}, {"signal.backlog", "{kind=\"x\"}"}},
       {"signal.backlog: \"{kind=\"x\"}\" has no metric name"}},
      {"unknown key without a near match", {{"endpoints", kPod}, {"banana", "1"}}, {"unknown key \"banana\""}},
      {"one pod listed twice (the second with the engine's default path spelt out)",
       {{"endpoints", "http://10.0.0.1:8000,http://10.0.0.1:8000/v1/metrics"}, {"engine", "nim"}},
       {"endpoints: http://10.0.0.1:8000/v1/metrics is listed twice; list each pod once"}},
      // Issue 13 item 2.
      {"startupTime with a formula of one's own",
       {{"endpoints", kPod}, {"formula", "sum(waiting)"}, {"startupTime", "2m"}},
       {"startupTime shapes the default formula only; with formula, predict in it yourself, e.g. "
        "max(D, predict(D, 2m30s)) for a demand D read now"}},
      {"startupTime without a unit",
       {{"endpoints", kPod}, {"startupTime", "150"}},
       {"startupTime: \"150\" is not a duration", "did you mean \"150s\"?"}},
      {"panicThreshold that would panic at any load",
       {{"endpoints", kPod}, {"panicThreshold", "1"}},
       {"panicThreshold: \"1\" is out of range"}},
      {"predict without a horizon in a formula",
       {{"endpoints", kPod}, {"formula", "predict(sum(waiting))"}},
       {"formula: formula:1:1: predict() needs a horizon"}},
  };
  for (const auto& r : rows) {
    auto spec = BuildScalerSpec("nim", "llama", r.md, r.options);
    ASSERT_FALSE(spec.ok()) << r.why;
    EXPECT_EQ(spec.status().code(), Code::kInvalidArgument) << r.why;
    const std::string& m = spec.status().message();
    for (const auto& w : r.want) EXPECT_THAT(m, HasSubstr(w)) << r.why;
    // One line, except a formula error, whose caret block follows the standalone first line.
    if (m.find("formula:1:") == std::string::npos) {
      EXPECT_EQ(m.find('\n'), std::string::npos) << r.why << ": the message must be one line";
    }
    EXPECT_EQ(m.rfind("invalid trigger metadata", 0), 0u) << r.why;
  }
}

// Issue 13 item 2: the panic window defaults to a tenth of the window (Knative's), never below
// one scrape interval nor above the window, so `window: 4s` alone is valid; panicThreshold is a
// key; startupTime makes the default formula scale on the predicted demand.
TEST(BuildScalerSpec, PanicDefaultsFollowTheWindowAndStartupTimePredicts) {
  auto defaults = BuildScalerSpec("nim", "llama", {{"endpoints", kPod}}, kAllow);
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_EQ((*defaults)->panic_window, 6s);  // 60 s / 10
  EXPECT_EQ((*defaults)->panic_threshold, 2.0);
  auto short_window = BuildScalerSpec("nim", "llama", {{"endpoints", kPod}, {"window", "4s"}}, kAllow);
  ASSERT_TRUE(short_window.ok()) << short_window.status().message();
  EXPECT_EQ((*short_window)->panic_window, 2s) << "not below one scrape (2 s)";
  auto long_window =
      BuildScalerSpec("nim", "llama", {{"endpoints", kPod}, {"window", "5m"}, {"panicThreshold", "3.5"}}, kAllow);
  ASSERT_TRUE(long_window.ok()) << long_window.status().message();
  EXPECT_EQ((*long_window)->panic_window, 30s);
  EXPECT_EQ((*long_window)->panic_threshold, 3.5);
  auto startup =
      BuildScalerSpec("nim", "llama", {{"endpoints", kPod}, {"targetWaiting", "4"}, {"startupTime", "150s"}}, kAllow);
  ASSERT_TRUE(startup.ok()) << startup.status().message();
  // 150 s plus half the 60 s window, which the reported average trails by.
  EXPECT_EQ((*startup)->FormulaText(), "max(sum(waiting)/4, predict(sum(waiting)/4, 180s))");
  EXPECT_EQ((*startup)->value->trend_count(), 1u);
  auto short_startup = BuildScalerSpec(
      "nim", "llama", {{"endpoints", kPod}, {"targetWaiting", "4"}, {"startupTime", "150s"}, {"window", "20s"}},
      kAllow);
  ASSERT_TRUE(short_startup.ok()) << short_startup.status().message();
  EXPECT_EQ((*short_startup)->FormulaText(), "max(sum(waiting)/4, predict(sum(waiting)/4, 160s))")
      << "the window key reaches the horizon";
}

TEST(BuildScalerSpec, ServiceAndDnsDiscovery) {
  auto svc = BuildScalerSpec("nim", "llama", {{"service", "meta-llama3-8b"}, {"engine", "nim"}, {"port", "api"}},
                             SpecOptions{.namespaces = {"nim"}});
  ASSERT_TRUE(svc.ok()) << svc.status().message();
  const auto& d = (*svc)->discovery;
  EXPECT_EQ(d.kind, sources::DiscoveryConfig::Kind::kService);
  EXPECT_EQ(d.ns, "nim");
  EXPECT_EQ(d.service, "meta-llama3-8b");
  EXPECT_EQ(d.port, "api");
  EXPECT_EQ(d.path, "/v1/metrics");
  EXPECT_EQ(d.scheme, "http");
  auto dns =
      BuildScalerSpec("nim", "llama", {{"dnsName", "llama.nim.svc"}, {"engine", "vllm"}, {"scheme", "https"}}, {});
  ASSERT_TRUE(dns.ok()) << dns.status().message();
  EXPECT_EQ((*dns)->discovery.kind, sources::DiscoveryConfig::Kind::kDns);
  EXPECT_EQ((*dns)->discovery.port, "8000");
  EXPECT_EQ((*dns)->discovery.path, "/metrics");
  EXPECT_EQ((*dns)->discovery.scheme, "https");
}

TEST(BuildScalerSpec, TriggersWithTheSameFormulaShareOneCompiledProgram) {
  // Issue 16 item 3: a Program is immutable, so 1,000 triggers with the default formula hold one.
  auto a = BuildScalerSpec("nim", "a", {{"service", "a"}, {"engine", "nim"}}, {});
  auto b = BuildScalerSpec("other", "b", {{"service", "b"}, {"engine", "vllm"}}, {});
  auto c = BuildScalerSpec("nim", "c", {{"service", "c"}, {"targetKvCache", "0.5"}}, {});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*a)->value.get(), (*b)->value.get());
  EXPECT_EQ((*a)->activation.get(), (*b)->activation.get());
  EXPECT_NE((*a)->value.get(), (*c)->value.get()) << "another formula text is another program";
  EXPECT_EQ((*c)->FormulaText(), "sum(kv_cache)/0.5");
  // Same text, but `backlog` is a custom signal here: another signal table, another program.
  auto d = BuildScalerSpec("nim", "d", {{"service", "d"}, {"formula", "sum(waiting)"}, {"signal.backlog", "q"}}, {});
  auto e = BuildScalerSpec("nim", "e", {{"service", "e"}, {"formula", "sum(waiting)"}}, {});
  ASSERT_TRUE(d.ok() && e.ok());
  EXPECT_NE((*d)->value.get(), (*e)->value.get());
}

TEST(BuildScalerSpec, UnknownKeyWithoutSuggestionHasNoDidYouMean) {
  auto spec = BuildScalerSpec("a", "b", {{"endpoints", kPod}, {"banana", "1"}}, kAllow);
  EXPECT_THAT(spec.status().message(), ::testing::Not(HasSubstr("did you mean")));
}

TEST(BuildScalerSpec, SeveralEndpointsAndCustomMetricName) {
  auto spec = BuildScalerSpec("a", "b", {{"endpoints", " http://a:1/m , http://b:2/m ,"}, {"metricName", "llama.kv-1"}},
                              kAllow);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ((*spec)->discovery.urls, (std::vector<std::string>{"http://a:1/m", "http://b:2/m"}));
  EXPECT_EQ((*spec)->metric_name, "llama.kv-1");
}

TEST(HashMetadata, IndependentOfInsertionOrderSensitiveToContent) {
  config::Metadata a{{"x", "1"}, {"y", "2"}};
  config::Metadata b;
  b["y"] = "2";
  b["x"] = "1";
  EXPECT_EQ(HashMetadata(a), HashMetadata(b));
  EXPECT_NE(HashMetadata(a), HashMetadata({{"x", "1"}, {"y", "3"}}));
  EXPECT_NE(HashMetadata({{"ab", "c"}}), HashMetadata({{"a", "bc"}}));
}

TEST(DefaultMetricName, LowercaseSafeDeterministicAndBounded) {
  EXPECT_EQ(DefaultMetricName("NIM", "Llama_3.1"), "nim-nim-llama-3.1");
  std::string long_name(300, 'x');
  std::string a = DefaultMetricName("ns", long_name);
  EXPECT_LE(a.size(), 120u);
  EXPECT_EQ(a, DefaultMetricName("ns", long_name));
  EXPECT_NE(a, DefaultMetricName("ns", long_name + "y"));
  EXPECT_TRUE(std::all_of(a.begin(), a.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  }));
}

TEST(MetadataFields, EveryFieldDocumented) {
  for (const auto& f : MetadataFields()) EXPECT_FALSE(f.help.empty()) << f.key;
}

// Issue 17: a built-in signal's target key is declared by the vocabulary and read into
// TriggerMetadata::targets under the signal's name, latencies in seconds.
TEST(MetadataFields, TargetKeysComeFromTheSignalVocabulary) {
  size_t with_target = 0;
  for (const BuiltinSignal& b : kBuiltinSignals) {
    if (b.target_use == TargetUse::kNone) {
      EXPECT_TRUE(b.target_key.empty()) << b.name;
      continue;
    }
    ++with_target;
    const auto& fields = MetadataFields();
    auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.key == b.target_key; });
    ASSERT_NE(it, fields.end()) << b.target_key;
    EXPECT_EQ(it->type, b.target_use == TargetUse::kLatency ? config::FieldType::kDuration : config::FieldType::kDouble)
        << b.target_key;
  }
  EXPECT_EQ(with_target, 7u);
  auto read = ReadTriggerMetadata(
      {{"targetKvCache", "0.7"}, {"targetTtft", "1500ms"}, {"targetWaiting", "-1"}, {"targetRequestRate", "61"}});
  const std::map<std::string, double, std::less<>> want = {{"kv_cache", 0.7}, {"ttft", 1.5}, {"requests", 61}};
  EXPECT_EQ(read.metadata.targets, want);
  ASSERT_EQ(read.problems.size(), 1u);
  EXPECT_THAT(read.problems[0], ::testing::HasSubstr("targetWaiting"));
  EXPECT_TRUE(read.metadata.AnyTargetGiven());
}

}  // namespace
}  // namespace nimscaler::trigger
