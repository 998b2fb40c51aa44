#include "scaler/service/naming.h"

#include <gtest/gtest.h>

namespace nimscaler::service {
namespace {

TEST(MetricNameMatches, ExactCaseInsensitiveAndKedaPrefix) {
  EXPECT_TRUE(MetricNameMatches("nim-a-b", "nim-a-b"));
  EXPECT_TRUE(MetricNameMatches("NIM-A-B", "nim-a-b"));
  EXPECT_TRUE(MetricNameMatches("s0-nim-a-b", "nim-a-b"));
  EXPECT_TRUE(MetricNameMatches("S12-nim-a-b", "nim-a-b"));
  EXPECT_FALSE(MetricNameMatches("nim-a-c", "nim-a-b"));
  EXPECT_FALSE(MetricNameMatches("s-nim-a-b", "nim-a-b"));
  EXPECT_FALSE(MetricNameMatches("sx-nim-a-b", "nim-a-b"));
  EXPECT_FALSE(MetricNameMatches("", "nim-a-b"));
  EXPECT_FALSE(MetricNameMatches("s0-", "nim-a-b"));
}

}  // namespace
}  // namespace nimscaler::service
