// The demand file of `nim-scaler record` / `replay` and the meter that makes its samples
// (issue 13 item 4): round trip, every input error named with its line, counter arithmetic.
#include "scaler/app/demand_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace nimscaler::app {
namespace {

using ::testing::HasSubstr;

const char* kHeader = R"({"format":"nim-scaler-demand","version":1,"interval":2,"engine":"nim"})";

std::string Error(std::string_view text) {
  auto r = ParseDemand(text, "d.jsonl");
  EXPECT_FALSE(r.ok()) << "parsed: " << text;
  return r.ok() ? "" : r.status().message();
}

TEST(DemandFile, RoundTripKeepsEveryField) {
  DemandHeader h;
  h.interval = 2;
  h.engine = "vllm";
  h.started = "2026-01-02T03:04:05Z";
  h.discovery = "Service nim/llama port http";
  h.compression = 20;
  DemandSample a;
  a.t = 2.004;
  a.arrivals_per_s = 31.25;
  a.completions_per_s = 30;
  a.prompt_tokens_per_s = 6000;
  a.generation_tokens_per_s = 6100;
  a.prompt_tokens_per_request = 200;
  a.generation_tokens_per_request = 203.3333;
  a.running = 40;
  a.waiting = 3;
  a.pods = 3;
  a.ready = 2;
  a.errors = 1;
  DemandSample b;  // no token counters (an engine without them)
  b.t = 4;
  b.arrivals_per_s = 0;
  std::string text = DemandHeaderLine(h) + "\n" + DemandSampleLine(a) + "\n" + DemandSampleLine(b) + "\n";
  EXPECT_EQ(text.rfind(R"({"format":"nim-scaler-demand","version":1,)", 0), 0u) << text;
  auto r = ParseDemand(text, "x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->header.engine, "vllm");
  EXPECT_EQ(r->header.started, h.started);
  EXPECT_EQ(r->header.discovery, h.discovery);
  EXPECT_DOUBLE_EQ(r->header.interval, 2);
  EXPECT_DOUBLE_EQ(r->header.compression, 20);
  ASSERT_EQ(r->samples.size(), 2u);
  const auto& s = r->samples[0];
  EXPECT_DOUBLE_EQ(s.t, 2.004);
  EXPECT_DOUBLE_EQ(s.arrivals_per_s, 31.25);
  EXPECT_DOUBLE_EQ(s.completions_per_s, 30);
  EXPECT_DOUBLE_EQ(*s.prompt_tokens_per_s, 6000);
  EXPECT_DOUBLE_EQ(*s.generation_tokens_per_request, 203.3333);
  EXPECT_DOUBLE_EQ(s.running, 40);
  EXPECT_DOUBLE_EQ(s.waiting, 3);
  EXPECT_EQ(s.pods, 3);
  EXPECT_EQ(s.ready, 2);
  EXPECT_EQ(s.errors, 1);
  EXPECT_FALSE(r->samples[1].prompt_tokens_per_s.has_value());
  EXPECT_FALSE(r->samples[1].prompt_tokens_per_request.has_value());
}

TEST(DemandFile, ReadsAFileAndNamesAMissingOne) {
  std::string path = ::testing::TempDir() + "/demand_file_test.jsonl";
  {
    std::ofstream out(path);
    out << kHeader << "\n"
        << R"({"t":2,"arrivals_per_s":5})"
        << "\n";
  }
  auto r = ReadDemandFile(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->samples.size(), 1u);
  std::remove(path.c_str());
  auto missing = ReadDemandFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot read \"" + path + "\""));
}

TEST(DemandFile, ErrorsNameTheLine) {
  EXPECT_THAT(Error(""), HasSubstr("empty: no header line"));
  EXPECT_THAT(Error("\n\n"), HasSubstr("empty"));
  EXPECT_THAT(Error(std::string(kHeader) + "\n"), HasSubstr("a header but no samples"));
  // Not a demand file at all.
  EXPECT_THAT(Error(R"({"t":1,"arrivals_per_s":2})"
                    "\n"),
              HasSubstr("d.jsonl line 1: not a demand file"));
  EXPECT_THAT(Error("[1,2]\n"), HasSubstr("line 1: expected a JSON object"));
  // Unknown version.
  EXPECT_THAT(Error(R"({"format":"nim-scaler-demand","version":2,"interval":2})"
                    "\n"),
              HasSubstr("line 1: version 2 is not supported (this build reads version 1)"));
  EXPECT_THAT(Error(R"({"format":"nim-scaler-demand","interval":2})"
                    "\n"),
              HasSubstr("line 1: missing \"version\""));
  EXPECT_THAT(Error(R"({"format":"nim-scaler-demand","version":1})"
                    "\n"),
              HasSubstr("line 1: missing \"interval\""));
  EXPECT_THAT(Error(R"({"format":"nim-scaler-demand","version":1,"interval":0})"
                    "\n"),
              HasSubstr("\"interval\" must be > 0"));
  // A line that is not JSON, in the middle of the file.
  std::string h = std::string(kHeader) + "\n";
  EXPECT_THAT(Error(h + R"({"t":2,"arrivals_per_s":1})"
                        "\n"
                        "t=4 arrivals 3\n"
                        R"({"t":6,"arrivals_per_s":1})"
                        "\n"),
              HasSubstr("d.jsonl line 3: not JSON"));
  // Missing and mistyped fields.
  EXPECT_THAT(Error(h + R"({"t":2})"
                        "\n"),
              HasSubstr("line 2: missing \"arrivals_per_s\""));
  EXPECT_THAT(Error(h + R"({"arrivals_per_s":2})"
                        "\n"),
              HasSubstr("line 2: missing \"t\""));
  EXPECT_THAT(Error(h + R"({"t":"2s","arrivals_per_s":2})"
                        "\n"),
              HasSubstr("line 2: \"t\" must be a number"));
  EXPECT_THAT(Error(h + R"({"t":2,"arrivals_per_s":-1})"
                        "\n"),
              HasSubstr("\"arrivals_per_s\" must be >= 0"));
  EXPECT_THAT(Error(h + R"({"t":2,"arrivals_per_s":1,"ready":1.5})"
                        "\n"),
              HasSubstr("\"ready\" must be a whole number"));
  // Time must increase.
  EXPECT_THAT(Error(h + R"({"t":4,"arrivals_per_s":1})"
                        "\n"
                        R"({"t":4,"arrivals_per_s":1})"
                        "\n"),
              HasSubstr("line 3: \"t\" 4 is not after the previous sample's 4"));
}

TEST(DemandFile, TruncatedLastLineIsNamed) {
  std::string text = std::string(kHeader) + "\n" +
                     R"({"t":2,"arrivals_per_s":1})"
                     "\n" +
                     R"({"t":4,"arriv)";
  EXPECT_THAT(Error(text), HasSubstr("d.jsonl line 3: truncated"));
  // A complete last object without its newline is still read.
  auto ok = ParseDemand(std::string(kHeader) + "\n" + R"({"t":2,"arrivals_per_s":1})", "d");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->samples.size(), 1u);
}

PodDemandReading Pod(const std::string& name, double requests, double running, double waiting,
                     std::optional<double> prompt = std::nullopt) {
  PodDemandReading r;
  r.pod = name;
  r.ok = true;
  r.requests = requests;
  r.running = running;
  r.waiting = waiting;
  r.prompt_tokens = prompt;
  return r;
}

TEST(DemandMeter, ArrivalsAreCompletionsPlusQueueGrowth) {
  DemandMeter m;
  EXPECT_FALSE(m.Add(0, 1, {Pod("a", 1000, 10, 0, 200000)}).has_value());  // baseline: history, not demand
  auto s = m.Add(2, 1, {Pod("a", 1040, 14, 2, 208000)});
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->completions_per_s, 20);
  EXPECT_DOUBLE_EQ(s->arrivals_per_s, (40 + 6) / 2.0);
  EXPECT_DOUBLE_EQ(*s->prompt_tokens_per_s, 4000);
  EXPECT_DOUBLE_EQ(*s->prompt_tokens_per_request, 200);
  EXPECT_FALSE(s->generation_tokens_per_s.has_value());
  EXPECT_DOUBLE_EQ(s->running, 14);
  EXPECT_DOUBLE_EQ(s->waiting, 2);
  // The queue drains faster than requests arrive: arrivals never go below 0.
  auto d = m.Add(4, 1, {Pod("a", 1050, 0, 0, 210000)});
  ASSERT_TRUE(d.has_value());
  EXPECT_DOUBLE_EQ(d->arrivals_per_s, 0);
}

TEST(DemandMeter, ResetsNewPodsAndFailures) {
  DemandMeter m;
  m.Add(0, 1, {Pod("a", 500, 0, 0)});
  // Pod a restarted (its counter went down: the new value is the increase); pod b appeared
  // after the baseline (counts from zero); pod c failed (unknown, counted as 0).
  PodDemandReading c;
  c.pod = "c";
  auto s = m.Add(1, 4, {Pod("a", 7, 1, 0), Pod("b", 3, 2, 0), c});
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->completions_per_s, 10);
  EXPECT_DOUBLE_EQ(s->arrivals_per_s, 10 + 3);
  EXPECT_EQ(s->pods, 4);
  EXPECT_EQ(s->ready, 3);
  EXPECT_EQ(s->errors, 1);
  // A pod missing from one scrape keeps its last counters: its next increase is from them.
  auto t = m.Add(2, 2, {Pod("a", 9, 1, 0)});
  auto u = m.Add(3, 2, {Pod("a", 11, 1, 0), Pod("b", 13, 2, 0)});
  ASSERT_TRUE(t && u);
  EXPECT_DOUBLE_EQ(t->completions_per_s, 2);
  EXPECT_DOUBLE_EQ(u->completions_per_s, 2 + 10);
}

TEST(DemandMeter, FailedPodsAreUnknownNotIdle) {
  DemandMeter m;
  PodDemandReading down;
  down.pod = "a";
  // Every ready pod failing gives no baseline and no sample (not "0 arrivals").
  EXPECT_FALSE(m.Add(0, 1, {down}).has_value());
  EXPECT_FALSE(m.Add(1, 1, {Pod("a", 5000, 4, 0)}).has_value());  // a's first answer is the baseline
  EXPECT_FALSE(m.Add(2, 1, {down}).has_value());
  auto s = m.Add(3, 1, {Pod("a", 5020, 4, 0)});  // covers (1, 3]
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->completions_per_s, 10);
  // A pod listed (failing) at the baseline is not "new" when it first answers: its history
  // is not counted as demand.
  DemandMeter n;
  PodDemandReading b_down;
  b_down.pod = "b";
  n.Add(0, 2, {Pod("a", 100, 0, 0), b_down});
  auto u = n.Add(1, 2, {Pod("a", 110, 0, 0), Pod("b", 90000, 50, 0)});
  ASSERT_TRUE(u.has_value());
  EXPECT_DOUBLE_EQ(u->arrivals_per_s, 10);
}

}  // namespace
}  // namespace nimscaler::app
