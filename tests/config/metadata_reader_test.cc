// MetadataReader's bounds (issue 19 items 9 and 10): size limits, linear work over many
// unknown keys (suggestions for the first few only) and a bounded joined message.
#include "scaler/config/metadata_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nimscaler::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<FieldSpec> kFields = {
    {.key = "targetKvCache"}, {.key = "engine"}, {.key = "signal.", .prefix = true}};

// Issue 19 item 9: only the first kMaxSuggestions unknown keys get a "did you mean" (an edit
// distance per known key each); the others are reported plainly.
TEST(ReadMetadata, SuggestsOnlyForTheFirstUnknownKeys) {
  Metadata md;
  for (int i = 0; i < 100; ++i)
    md["targetKvCach" + std::string(1, static_cast<char>('A' + i % 26)) + std::to_string(i)] = "1";
  MetadataRead read = ReadMetadata(md, kFields);
  ASSERT_EQ(read.problems.size(), 100u);
  size_t suggested = 0;
  for (const auto& p : read.problems) suggested += p.find("did you mean") != std::string::npos;
  EXPECT_EQ(suggested, kMaxSuggestions);
  EXPECT_THAT(read.problems[0], HasSubstr("(did you mean \"targetKvCache\"?)"));
}

TEST(JoinProblems, ListsTenThenCountsTheRest) {
  std::vector<std::string> problems;
  for (int i = 0; i < 10000; ++i) problems.push_back("unknown key \"k" + std::to_string(i) + "\"");
  std::string m = JoinProblems(problems);
  EXPECT_EQ(m.rfind("invalid trigger metadata (10000 problems): unknown key \"k0\"; ", 0), 0u) << m;
  EXPECT_THAT(m, HasSubstr("unknown key \"k9\"; and 9990 more"));
  EXPECT_THAT(m, Not(HasSubstr("\"k10\"")));
  EXPECT_LT(m.size(), 500u);
}

TEST(JoinProblems, LongProblemsAndCaretBlocksStayUnder4KiB) {
  std::vector<std::string> problems;
  for (int i = 0; i < 12; ++i) {
    problems.push_back("formula: " + std::string(5000, 'x') + "\n  " + std::string(5000, 'y') + "\n  ^");
  }
  std::string m = JoinProblems(problems);
  EXPECT_LE(m.size(), kMaxProblemsBytes + 3);  // "..." marks the cut
  EXPECT_THAT(m, HasSubstr("and 2 more"));
  size_t nl = m.find('\n');
  ASSERT_NE(nl, std::string::npos) << "the caret blocks still follow the first line";
  EXPECT_THAT(m.substr(0, nl), HasSubstr("(12 problems)"));

  EXPECT_EQ(JoinProblems({"one"}), "invalid trigger metadata: one");
  EXPECT_EQ(JoinProblems({"a", "b"}), "invalid trigger metadata (2 problems): a; b");
}

// Issue 19 item 10.
TEST(CheckMetadataLimits, NamesTheKeyAndTheLimit) {
  EXPECT_EQ(CheckMetadataLimits({{"engine", "nim"}}), "");
  Metadata many;
  for (size_t i = 0; i <= MetadataLimits::kMaxKeys; ++i) many["k" + std::to_string(i)] = "";
  EXPECT_EQ(CheckMetadataLimits(many), "the trigger metadata has 257 keys; at most 256 are accepted");
  many.erase(many.begin());
  EXPECT_EQ(CheckMetadataLimits(many), "");
  EXPECT_THAT(CheckMetadataLimits({{std::string(300, 'k'), ""}}),
              HasSubstr("is 300 bytes long; keys may be at most 256 bytes"));
  EXPECT_EQ(CheckMetadataLimits({{"formula", std::string(70000, 'x')}}),
            "the value of key \"formula\" is 70000 bytes long; values may be at most 65536 bytes");
  Metadata total;
  for (int i = 0; i < 4; ++i) total["signal." + std::to_string(i)] = std::string(65536, 'x');
  EXPECT_THAT(CheckMetadataLimits(total), HasSubstr("262176 bytes of keys and values; at most 262144"));
}

}  // namespace
}  // namespace nimscaler::config
