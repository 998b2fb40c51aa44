// UTF-8 helpers of scaler/common/text.h: the boundary-safe Truncate, validation, sanitising,
// display escaping and the constant-time comparison used by the wake hook (issue 19).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "scaler/common/text.h"

namespace nimscaler {
namespace {

// nlohmann's strict serializer throws on invalid UTF-8: the reference for "valid".
bool NlohmannAccepts(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// Issue 19 item 1: a pod's error body cut at 100 bytes in the middle of "é" gave invalid
// UTF-8 and /debug/scaledobjects aborted the process. The cut must move back to the character.
TEST(Truncate, NeverSplitsAMultiByteCharacter) {
  std::string e_acute = "\xC3\xA9";        // 2 bytes
  std::string euro = "\xE2\x82\xAC";       // 3 bytes
  std::string emoji = "\xF0\x9F\x98\x80";  // 4 bytes
  for (const std::string& ch : {e_acute, euro, emoji}) {
    for (size_t pad = 95; pad <= 100; ++pad) {
      std::string text = std::string(pad, 'a') + ch + std::string(20, 'b');
      std::string cut = Truncate(text, 100);
      ASSERT_GE(cut.size(), 3u);
      std::string kept = cut.substr(0, cut.size() - 3);
      EXPECT_EQ(cut.substr(cut.size() - 3), "...");
      EXPECT_LE(kept.size(), 100u);
      EXPECT_EQ(text.rfind(kept, 0), 0u) << "a prefix of the input";
      EXPECT_TRUE(IsValidUtf8(cut)) << "pad " << pad << " char of " << ch.size() << " bytes";
      EXPECT_TRUE(NlohmannAccepts(cut));
      // Whole characters are kept when they fit.
      if (pad + ch.size() <= 100) {
        EXPECT_NE(kept.find(ch), std::string::npos);
      }
    }
  }
  EXPECT_EQ(Truncate("abcdef", 3), "abc...");
  EXPECT_EQ(Truncate("abc", 3), "abc");
  EXPECT_EQ(Truncate("\xC3\xA9\xC3\xA9", 3), "\xC3\xA9...");
  EXPECT_EQ(Truncate("\xC3\xA9", 1), "...");
  // Bytes that are not UTF-8 at all are cut where the limit is (nothing to keep whole).
  EXPECT_EQ(Truncate("ab\xFF\xFF\xFF\xFF", 4), "ab\xFF\xFF...");
}

TEST(IsValidUtf8, AgreesWithNlohmannOnEdgeCases) {
  const std::string cases[] = {"",
                               "plain",
                               std::string("nul\0inside", 10),
                               "\xC3\xA9",
                               "\xE2\x82\xAC",
                               "\xF0\x9F\x98\x80",
                               "\xF4\x8F\xBF\xBF",  // U+10FFFF
                               "\xC3",              // truncated
                               "\xC0\xAF",          // overlong '/'
                               "\xE0\x80\xAF",      // overlong
                               "\xED\xA0\x80",      // surrogate
                               "\xF4\x90\x80\x80",  // above U+10FFFF
                               "\xF5\x80\x80\x80",
                               "\xFF",
                               "\x80",
                               "a\xE2\x82",
                               "\xE2\x28\xA1"};
  for (const auto& c : cases) EXPECT_EQ(IsValidUtf8(c), NlohmannAccepts(c)) << testing::PrintToString(c);
}

TEST(SanitizeUtf8, ReplacesInvalidBytesAndOptionallyControls) {
  EXPECT_EQ(SanitizeUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xC3"), "\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8(std::string("a\0b", 3)), std::string("a\0b", 3)) << "NUL is valid UTF-8";
  EXPECT_EQ(SanitizeUtf8(std::string("a\0b\x7F", 4), true),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_TRUE(IsValidUtf8(SanitizeUtf8(all)));
  EXPECT_TRUE(NlohmannAccepts(SanitizeUtf8(all)));
}

TEST(Printable, EscapesControlsAndInvalidBytes) {
  EXPECT_EQ(Printable(std::string("llama\0x", 7)), "llama\\x00x");
  EXPECT_EQ(Printable("a\xFF\n"), "a\\xFF\\x0A");
  EXPECT_EQ(Printable("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(Printable(std::string(200, 'x'), 10), "xxxxxxxxxx...");
}

// Issue 19 item 5: the wake token is compared without an early exit.
TEST(ConstantTimeEquals, EqualOnlyForTheSameBytes) {
  EXPECT_TRUE(ConstantTimeEquals("s3cret", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cre"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cretx"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "S3cret"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", ""));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abab")) << "a repeat of the secret is not the secret";
}

}  // namespace
}  // namespace nimscaler
