// The /debug JSON pieces (scaler/http/debug_json.h) fed with bytes that are not UTF-8
// (issue 19 item 1); the fuzz target tests/fuzz/debug_json_fuzzer.cc does the same at random.
#include "scaler/http/debug_json.h"

#include <gtest/gtest.h>

#include <cmath>

#include "scaler/common/text.h"

namespace nimscaler::http {
namespace {

TEST(DebugJson, PodRecordWithAnyBytesDumpsAndParsesBack) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  signals::PodReading pod;
  pod.endpoint = "http://10.0.0.1:8000/v1/metrics\xFF";
  pod.error = "GET returned HTTP 500: " + all + std::string(99, 'a') + "\xC3";
  pod.engine = "n\xC3\xA9m";
  pod.missing = std::string("\0\x80", 2);
  pod.gauges = {{"kv\xFF", 0.5}, {"waiting", NAN}, {"running", INFINITY}};
  std::string text = DumpJson(PodRecordJson(pod));
  EXPECT_TRUE(IsValidUtf8(text));
  nlohmann::json back;
  ASSERT_NO_THROW(back = nlohmann::json::parse(text));
  EXPECT_EQ(back["endpoint"], SanitizeUtf8(pod.endpoint));
  EXPECT_EQ(back["error"], SanitizeUtf8(pod.error));
  EXPECT_EQ(back["engine"], "n\xC3\xA9m") << "valid UTF-8 is kept as it is";
  EXPECT_EQ(back["missing"], SanitizeUtf8(pod.missing));
  EXPECT_EQ(back["signals"]["kv\xEF\xBF\xBD"], 0.5);
  EXPECT_TRUE(back["signals"]["waiting"].is_null());
  EXPECT_TRUE(back["signals"]["running"].is_null());
}

TEST(DebugJson, DumpReplacesInvalidBytesThatSlipThrough) {
  nlohmann::json doc = {{"raw", std::string("\xFF\xFE", 2)}, {std::string("k\x80"), 1}};
  std::string text;
  ASSERT_NO_THROW(text = DumpJson(doc, -1));
  EXPECT_TRUE(IsValidUtf8(text));
  nlohmann::json back;
  EXPECT_NO_THROW(back = nlohmann::json::parse(text));
  EXPECT_EQ(back["raw"], "\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace nimscaler::http
