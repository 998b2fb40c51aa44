// Engine presets against every real engine capture: auto-detection picks the right engine
// and each signal reads the value the capture holds (hand-checked against the files).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scaler/common/signal_vocabulary.h"
#include "scaler/sources/engine_preset.h"
#include "scaler/sources/front_door_preset.h"
#include "scaler/sources/pod_scrape_source.h"
#include "tests/fakes/testdata.h"

namespace nimscaler::sources {
namespace {

PodScrapeSource SourceReading(std::string engine, std::vector<std::string> signals) {
  PodScrapeConfig c;
  c.engine = std::move(engine);
  c.signals = std::move(signals);
  return PodScrapeSource(c, nullptr);
}

const std::vector<std::string> kAll = {"kv_cache",   "waiting",       "running",           "ttft",    "itl", "e2e",
                                       "queue_time", "prompt_tokens", "generation_tokens", "requests"};

struct Row {
  const char* file;
  const char* engine;
  std::map<std::string, double> gauges;
  std::vector<std::string> histograms;  // must be present with buckets
  std::vector<std::string> counters;    // must be present
};

TEST(Presets, AutoDetectionAndValuesOnEveryEngineCapture) {
  const Row rows[] = {
      {"engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom",
       "nim",
       {{"kv_cache", 0.0002848191398461977}, {"waiting", 0}, {"running", 1}},
       {"ttft", "itl", "e2e"},
       {"prompt_tokens", "generation_tokens"}},
      {"exposition/vllm-mixed-v0v1-opt125m-datadog-fixture.prom",
       "vllm",
       {{"kv_cache", 0}, {"waiting", 0}, {"running", 0}},
       {"ttft", "e2e"},
       {"prompt_tokens", "generation_tokens"}},
      {"exposition/vllm-v0.7-aibrix-docs-qwen2.5-coder.prom",
       "vllm",
       {{"kv_cache", 0}, {"waiting", 0}, {"running", 0}},
       {},
       {}},
      {"exposition/sglang-v0.4-docs-llama3.1-8b.prom",
       "sglang",
       {{"kv_cache", 0.28}, {"waiting", 2826}, {"running", 162}},
       {"ttft", "e2e"},
       {}},
      {"exposition/tgi-v3-datadog-fixture.prom",
       "tgi",
       {{"waiting", 0}, {"running", 0}},
       {"e2e", "queue_time", "itl"},
       {}},
      {"exposition/triton-trtllm-backend-readme.prom",
       "triton",
       {{"kv_cache", 0.4875}, {"waiting", 1}, {"running", 1}},
       {},
       {}},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.file);
    auto got = SourceReading("auto", kAll).Extract(testing::ReadTestdata(r.file), "");
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(got->engine, r.engine);
    for (const auto& [sig, want] : r.gauges) {
      ASSERT_TRUE(got->gauges.count(sig)) << sig;
      EXPECT_DOUBLE_EQ(got->gauges.at(sig), want) << sig;
    }
    for (const auto& h : r.histograms) {
      ASSERT_TRUE(got->histograms.count(h)) << h;
      EXPECT_GE(got->histograms.at(h).size(), 2u) << h;
      EXPECT_TRUE(std::isinf(got->histograms.at(h).back().first)) << h << ": needs a +Inf bucket";
    }
    for (const auto& c : r.counters) EXPECT_TRUE(got->counters.count(c)) << c;
    // Named engine gives the same values as auto.
    auto named = SourceReading(r.engine, kAll).Extract(testing::ReadTestdata(r.file), "");
    ASSERT_TRUE(named.ok());
    EXPECT_EQ(named->gauges, got->gauges);
  }
}

TEST(Presets, VllmPrefersTheV1KvNameWhenBothAreServed) {
  auto got =
      SourceReading("vllm", {"kv_cache"}).Extract("vllm:gpu_cache_usage_perc 0.9\nvllm:kv_cache_usage_perc 0.4\n", "");
  ASSERT_TRUE(got.ok());
  EXPECT_DOUBLE_EQ(got->gauges.at("kv_cache"), 0.4);
  EXPECT_EQ(got->metrics.at("kv_cache"), "vllm:kv_cache_usage_perc");
}

TEST(Presets, SglangRanksAreNotSummed) {
  const char* body =
      "sglang:num_queue_reqs{tp_rank=\"0\"} 7\nsglang:num_queue_reqs{tp_rank=\"1\"} 7\n"
      "sglang:token_usage{tp_rank=\"0\"} 0.5\nsglang:token_usage{tp_rank=\"1\"} 0.7\n";
  auto got = SourceReading("sglang", {"waiting", "kv_cache"}).Extract(body, "");
  ASSERT_TRUE(got.ok());
  EXPECT_DOUBLE_EQ(got->gauges.at("waiting"), 7);  // the same queue seen by two ranks
  EXPECT_DOUBLE_EQ(got->gauges.at("kv_cache"), 0.6);
}

TEST(Presets, TritonFirstResponseHistogramIsConvertedFromMilliseconds) {
  const char* body =
      "# TYPE nv_inference_first_response_histogram_ms histogram\n"
      "nv_inference_first_response_histogram_ms_bucket{model=\"m\",le=\"100\"} 1\n"
      "nv_inference_first_response_histogram_ms_bucket{model=\"m\",le=\"500\"} 3\n"
      "nv_inference_first_response_histogram_ms_bucket{model=\"m\",le=\"+Inf\"} 4\n"
      "nv_inference_first_response_histogram_ms_sum{model=\"m\"} 900\n"
      "nv_inference_first_response_histogram_ms_count{model=\"m\"} 4\n";
  auto got = SourceReading("triton", {"ttft"}).Extract(body, "");
  ASSERT_TRUE(got.ok());
  const auto& b = got->histograms.at("ttft");
  ASSERT_EQ(b.size(), 3u);
  EXPECT_DOUBLE_EQ(b[0].first, 0.1);
  EXPECT_DOUBLE_EQ(b[1].first, 0.5);
  EXPECT_DOUBLE_EQ(b[1].second, 3);
}

TEST(Presets, CustomSignalTakesItsKindFromType) {
  PodScrapeConfig c;
  c.engine = "nim";
  c.signals = {"backlog", "served"};
  c.custom = {{"backlog", SignalKind::kUnknown, {{"my_queue", {{"kind", "x"}}}}, Combine::kSum},
              {"served", SignalKind::kUnknown, {{"my_requests_total", {}}}, Combine::kSum}};
  PodScrapeSource src(c, nullptr);
  const char* body =
      "# TYPE my_queue gauge\nmy_queue{kind=\"x\"} 3\nmy_queue{kind=\"y\"} 100\n"
      "# TYPE my_requests_total counter\nmy_requests_total 42\n";
  auto got = src.Extract(body, "");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_DOUBLE_EQ(got->gauges.at("backlog"), 3);
  EXPECT_EQ(got->kinds.at("backlog"), SignalKind::kGauge);
  EXPECT_DOUBLE_EQ(got->counters.at("served"), 42);
  EXPECT_EQ(got->kinds.at("served"), SignalKind::kCounter);
}

TEST(ParseMetricRef, NamesAndMatchers) {
  auto r = ParseMetricRef(R"(my_queue{kind="x", zone="a"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->family, "my_queue");
  EXPECT_EQ(r->labels.at("zone"), "a");
  EXPECT_EQ(r->ToString(), R"(my_queue{kind="x",zone="a"})");
  for (const char* bad : {"", "{kind=\"x\"}", "my queue", "q{kind=x}", "q{kind=\"x\"", "q{kind}"}) {
    EXPECT_FALSE(ParseMetricRef(bad).ok()) << bad;
  }
}

// Issue 17: every preset reads built-in signals only, with the kind the vocabulary gives them,
// and a front-door preset reads only front-door signals.
TEST(Presets, EverySignalIsInTheVocabularyWithItsKind) {
  auto check = [](const EnginePreset& preset, bool front_door) {
    for (const SignalSource& s : preset.signals) {
      const BuiltinSignal* row = FindBuiltinSignal(s.signal);
      ASSERT_NE(row, nullptr) << preset.name << ": " << s.signal;
      EXPECT_EQ(s.kind, row->kind) << preset.name << ": " << s.signal;
      EXPECT_EQ(row->front_door, front_door) << preset.name << ": " << s.signal;
    }
  };
  size_t engines = 0;
  for (const std::string& name : EngineNames()) {
    if (const EnginePreset* p = FindPreset(name)) {
      check(*p, false);
      ++engines;
    }
  }
  EXPECT_EQ(engines, EngineNames().size() - 1);  // every name but "auto"
  ASSERT_FALSE(FrontDoorPresetNames().empty());
  for (const std::string& name : FrontDoorPresetNames()) {
    const EnginePreset* p = FindFrontDoorPreset(name);
    ASSERT_NE(p, nullptr) << name;
    check(*p, true);
  }
  // The engine's own rule wins over the vocabulary's where they differ, and units convert.
  const SignalSource* sglang_waiting = FindPreset("sglang")->Find(kWaiting);
  ASSERT_NE(sglang_waiting, nullptr);
  EXPECT_EQ(sglang_waiting->combine, Combine::kMax);
  EXPECT_EQ(FindPreset("vllm")->Find(kKvCache)->combine, Combine::kAverage);
  EXPECT_EQ(FindPreset("vllm")->Find(kWaiting)->combine, Combine::kSum);
  EXPECT_DOUBLE_EQ(FindPreset("triton")->Find(kTtft)->scale, 0.001);
}

}  // namespace
}  // namespace nimscaler::sources
