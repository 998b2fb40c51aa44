// Extraction of signals from real captures, per engine preset.
#include "scaler/sources/pod_scrape_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/fake_pod.h"
#include "tests/fakes/testdata.h"

namespace nimscaler::sources {
namespace {

using ::testing::HasSubstr;

PodScrapeSource Source(std::string engine, std::string model = "") {
  PodScrapeConfig c;
  c.engine = std::move(engine);
  c.model = std::move(model);
  c.signals = {"kv_cache", "waiting", "running"};
  return PodScrapeSource(c, std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient()));
}

TEST(PodScrapeSource, NimCaptureGivesItsThreeGauges) {
  auto got = Source("nim").Extract(testing::NimCapture(), "text/plain; version=0.0.4");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_DOUBLE_EQ(got->gauges.at("kv_cache"), 0.0002848191398461977);
  EXPECT_DOUBLE_EQ(got->gauges.at("waiting"), 0);
  EXPECT_DOUBLE_EQ(got->gauges.at("running"), 1);
  EXPECT_EQ(got->engine, "nim");
  EXPECT_TRUE(got->missing.empty());
}

TEST(PodScrapeSource, AutoDetectsNim) {
  auto got = Source("auto").Extract(testing::NimCapture(), "");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->engine, "nim");
}

TEST(PodScrapeSource, VllmPrefersV1NameAndFallsBackToLegacy) {
  const std::string both =
      "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.4\n"
      "vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"m\"} 0.2\n"
      "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.9\n"
      "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 3\n"
      "vllm:num_requests_waiting{engine=\"1\",model_name=\"m\"} 4\n"
      "vllm:num_requests_running{model_name=\"m\"} 5\n";
  auto got = Source("vllm").Extract(both, "");
  ASSERT_TRUE(got.ok()) << got.status().message();
  // A KV fraction is averaged across data-parallel engines of one pod, never summed;
  // request counts are summed.
  EXPECT_DOUBLE_EQ(got->gauges.at("kv_cache"), 0.3);
  EXPECT_DOUBLE_EQ(got->gauges.at("waiting"), 7);
  const std::string legacy =
      "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.9\nvllm:num_requests_waiting 1\n"
      "vllm:num_requests_running 0\n";
  auto old = Source("vllm").Extract(legacy, "");
  ASSERT_TRUE(old.ok());
  EXPECT_DOUBLE_EQ(old->gauges.at("kv_cache"), 0.9);
}

TEST(PodScrapeSource, ModelFilterKeepsOnlyThatModel) {
  const std::string body =
      "num_requests_waiting{model_name=\"base\"} 2\nnum_requests_waiting{model_name=\"lora-a\"} 5\n"
      "gpu_cache_usage_perc{model_name=\"base\"} 0.5\nnum_requests_running{model_name=\"base\"} 1\n";
  auto got = Source("nim", "lora-a").Extract(body, "");
  ASSERT_TRUE(got.ok());
  EXPECT_DOUBLE_EQ(got->gauges.at("waiting"), 5);
  // The pod serves the KV metric, but not for this model: known, with no usable value.
  EXPECT_TRUE(std::isnan(got->gauges.at("kv_cache")));
}

TEST(PodScrapeSource, WrongEngineNamesTheMissingMetricAndWhatIsServed) {
  // A NIM 1.x pod read with the vLLM preset: the KV metric is missing, and the similar name
  // the pod does serve is suggested.
  auto got = Source("vllm").Extract(testing::NimCapture(), "");
  ASSERT_TRUE(got.ok());
  ASSERT_FALSE(got->missing.empty());
  EXPECT_THAT(got->missing_detail,
              HasSubstr("metric vllm:kv_cache_usage_perc (signal kv_cache, engine vllm) is not served"));
  EXPECT_THAT(got->missing_detail, HasSubstr("gpu_cache_usage_perc"));
  // TGI has no KV-cache fraction at all: the message says how to map one.
  auto tgi = Source("tgi").Extract("tgi_queue_size 1\ntgi_batch_current_size 2\n", "");
  ASSERT_TRUE(tgi.ok());
  EXPECT_THAT(tgi->missing_detail,
              HasSubstr("engine tgi has no metric for signal kv_cache; map one with signal.kv_cache"));
}

// The families a scrape lists are views into the body; a name the parser had to unescape is
// copied, so two such names both survive to the hint (a view into the parser's scratch would
// show the second name twice).
TEST(PodScrapeSource, UnescapedFamilyNamesAreKeptForTheHint) {
  const std::string body =
      "# TYPE \"kv.cache\\\"a\" gauge\n{\"kv.cache\\\"a\"} 0.1\n"
      "# TYPE \"kv.cache\\\"b\" gauge\n{\"kv.cache\\\"b\"} 0.2\n";
  auto got = Source("vllm").Extract(body, "");
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_FALSE(got->missing.empty());
  EXPECT_THAT(got->missing_detail, HasSubstr("kv.cache\"a"));
  EXPECT_THAT(got->missing_detail, HasSubstr("kv.cache\"b"));
}

TEST(PodScrapeSource, NimTwoPassesBackendNamesThrough) {
  // NIM 2.x serves its vLLM backend's names unchanged; the nim preset reads them.
  auto got = Source("nim").Extract(
      "vllm:kv_cache_usage_perc 0.5\nvllm:num_requests_waiting 1\nvllm:num_requests_running 2\n", "");
  ASSERT_TRUE(got.ok());
  EXPECT_DOUBLE_EQ(got->gauges.at("kv_cache"), 0.5);
  EXPECT_DOUBLE_EQ(got->gauges.at("running"), 2);
}

TEST(PodScrapeSource, AutoWithUnknownMetricsIsFailedPrecondition) {
  auto got = Source("auto").Extract("some_other_metric 1\n", "");
  EXPECT_EQ(got.status().code(), Code::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr("set `engine`"));
}

TEST(PodScrapeSource, GarbageIsAnErrorWithLineNotZeroes) {
  auto got = Source("nim").Extract("gpu_cache_usage_perc 0.5\nthis is not { valid\n", "");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("line 2"));
}

TEST(PodScrapeSource, ScrapesOverLoopbackHttpAndReportsHttpErrors) {
  testing::FakePod pod(testing::NimCapture());
  auto src = Source("nim");
  auto ok = src.ScrapeAll({pod.url()}).front();
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_DOUBLE_EQ(ok->gauges.at("running"), 1);
  pod.SetStatus(503);
  auto bad = src.ScrapeAll({pod.url()}).front();
  EXPECT_EQ(bad.status().code(), Code::kUnavailable);
  EXPECT_THAT(bad.status().message(), HasSubstr("HTTP 503"));
  pod.Stop();
  auto gone = src.ScrapeAll({pod.url()}).front();
  EXPECT_EQ(gone.status().code(), Code::kUnavailable);
}

TEST(PodScrapeSource, OversizeBodyIsRefused) {
  testing::FakePod pod(std::string(64 * 1024, '#') + "\n");
  PodScrapeConfig c;
  c.engine = "nim";
  c.http.max_body_bytes = 1024;
  PodScrapeSource src(c, std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient()));
  auto got = src.ScrapeAll({pod.url()}).front();
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("exceeds the 1024-byte limit"));
}

// Issue 19 item 14: the same series twice in one scrape is refused (as Prometheus refuses it),
// never summed: ten copies of a gauge must not read as ten times the demand.
TEST(PodScrapeSource, DuplicateSeriesAreAScrapeErrorNotASum) {
  std::string body = "vllm:num_requests_waiting{model_name=\"m\",x=\"1\"} 5\n";
  for (int i = 0; i < 9; ++i) body += "vllm:num_requests_waiting{model_name=\"m\",x=\"1\"} 5\n";
  body += "vllm:kv_cache_usage_perc 0.5\nvllm:num_requests_running 1\n";
  auto got = Source("vllm").Extract(body, "");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("duplicate series"));
  EXPECT_THAT(got.status().message(), HasSubstr("line 2"));
  // Label order does not make a different series.
  auto reordered = Source("vllm").Extract(
      "vllm:num_requests_waiting{a=\"1\",b=\"2\"} 1\nvllm:num_requests_waiting{b=\"2\",a=\"1\"} 1\n", "");
  ASSERT_FALSE(reordered.ok());
  EXPECT_THAT(reordered.status().message(), HasSubstr("duplicate series"));
  // Distinct series of one family are still summed.
  auto two = Source("vllm").Extract(
      "vllm:num_requests_waiting{a=\"1\"} 1\nvllm:num_requests_waiting{a=\"2\"} 2\n"
      "vllm:kv_cache_usage_perc 0.5\nvllm:num_requests_running 1\n",
      "");
  ASSERT_TRUE(two.ok()) << two.status().message();
  EXPECT_DOUBLE_EQ(two->gauges.at("waiting"), 3);
}

// Issue 19 item 10: a histogram with an absurd number of buckets is refused with a clear error
// instead of costing memory and CPU in every window of every trigger.
TEST(PodScrapeSource, HistogramsWithTooManyBucketsAreRefused) {
  PodScrapeConfig c;
  c.engine = "vllm";
  c.signals = {"ttft"};
  PodScrapeSource source(c, std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient()));
  auto histogram = [](int buckets) {
    std::string b = "# TYPE vllm:time_to_first_token_seconds histogram\n";
    for (int i = 1; i <= buckets; ++i) {
      b += "vllm:time_to_first_token_seconds_bucket{le=\"" + std::to_string(i * 0.001) + "\"} " + std::to_string(i) +
           "\n";
    }
    b += "vllm:time_to_first_token_seconds_bucket{le=\"+Inf\"} " + std::to_string(buckets) + "\n";
    return b;
  };
  auto ok = source.Extract(histogram(400), "");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->histograms.at("ttft").size(), 401u);
  auto big = source.Extract(histogram(100000), "");
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(), HasSubstr("more than 512 distinct le bounds"));
}

// Issue 19 item 4: what a pod (or any page reached by discovery) serves never comes back in
// an error; a parse error says where and why.
TEST(PodScrapeSource, ParseErrorsDoNotQuoteTheBody) {
  auto source = Source("nim");
  net::HttpResponse page;
  page.status = 200;
  page.content_type = "text/html";
  page.body = "<html><body>secret-admin-panel token=abc123</body></html>\n";
  auto got = source.Interpret("http://10.0.0.1:8000/metrics", page);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("served unparsable metrics: line 1, column"));
  EXPECT_EQ(got.status().message().find("secret"), std::string::npos) << got.status().message();
  EXPECT_EQ(got.status().message().find("abc123"), std::string::npos) << got.status().message();
}

}  // namespace
}  // namespace nimscaler::sources
