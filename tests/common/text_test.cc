#include "scaler/common/text.h"

#include <gtest/gtest.h>

namespace nimscaler {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsGoStyleUnitsAndCompounds) {
  struct Row {
    const char* in;
    Duration want;
  } rows[] = {{"2s", 2s},    {"500ms", 500ms},   {"1.5m", 90s}, {"1m30s", 90s},
              {"1h", 3600s}, {" 250us ", 250us}, {"10ns", 10ns}};
  for (const auto& r : rows) {
    auto d = ParseDuration(r.in);
    ASSERT_TRUE(d.has_value()) << r.in;
    EXPECT_EQ(*d, r.want) << r.in;
  }
}

TEST(ParseDuration, RejectsBareNumbersUnknownUnitsAndJunk) {
  for (const char* in : {"", "2", "fast", "2 s", "s", "2d", "-1s", "1e3s", "2s3", "1.2.3s"}) {
    EXPECT_FALSE(ParseDuration(in).has_value()) << in;
  }
}

TEST(FormatDuration, RoundTripsCommonValues) {
  EXPECT_EQ(FormatDuration(2s), "2s");
  EXPECT_EQ(FormatDuration(500ms), "500ms");
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatDuration(3600s), "1h");
}

TEST(ParseDouble, FiniteNumbersOnly) {
  EXPECT_EQ(ParseDouble("0.1"), 0.1);
  EXPECT_EQ(ParseDouble("+4"), 4.0);
  EXPECT_EQ(ParseDouble("1e-3"), 0.001);
  for (const char* in : {"", "abc", "1,5", "inf", "NaN", "0.1x", "1e999"}) EXPECT_FALSE(ParseDouble(in)) << in;
}

TEST(SuggestClosest, FindsTyposButNotUnrelatedWords) {
  std::vector<std::string> keys = {"targetKvCache", "targetWaiting", "scrapeInterval", "engine"};
  EXPECT_EQ(SuggestClosest("targetKvCach", keys), "targetKvCache");
  EXPECT_EQ(SuggestClosest("TARGETWAITING", keys), "targetWaiting");
  EXPECT_EQ(SuggestClosest("scrapeInteval", keys), "scrapeInterval");
  EXPECT_EQ(SuggestClosest("engin", keys), "engine");
  EXPECT_FALSE(SuggestClosest("banana", keys));
}

TEST(FormatDouble, ShortestRoundTrip) {
  EXPECT_EQ(FormatDouble(2.08), "2.08");
  EXPECT_EQ(FormatDouble(3), "3");
  EXPECT_EQ(FormatDouble(1000), "1000");
  EXPECT_EQ(FormatDouble(0.0001), "0.0001");
  EXPECT_EQ(FormatDouble(0.1 + 0.2), "0.30000000000000004");
}

TEST(Truncate, MarksCuts) {
  EXPECT_EQ(Truncate("abcdef", 3), "abc...");
  EXPECT_EQ(Truncate("abc", 3), "abc");
}

}  // namespace
}  // namespace nimscaler
