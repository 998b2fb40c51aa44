// request_limits.h: the name rules (issue 19 item 10), the error-text cap (item 9) and the
// metric value clamp (item 13).
#include "scaler/service/request_limits.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace nimscaler::service {
namespace {

TEST(CheckNamespace, AcceptsDns1123LabelsOnly) {
  for (const char* ok : {"nim", "a", "kube-system", "a1-b2", "0abc"}) EXPECT_FALSE(CheckNamespace(ok)) << ok;
  EXPECT_FALSE(CheckNamespace(std::string(63, 'a')));
  for (const char* bad : {"", "-a", "a-", "Nim", "a.b", "a_b", "a b", "ñ"}) {
    auto err = CheckNamespace(bad);
    ASSERT_TRUE(err) << bad;
    EXPECT_NE(err->find("ScaledObjectRef.namespace"), std::string::npos) << *err;
    EXPECT_NE(err->find("DNS-1123 label"), std::string::npos) << *err;
  }
  auto err = CheckNamespace(std::string(64, 'a'));
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("(64 bytes)"), std::string::npos) << *err;
}

TEST(CheckName, AcceptsDns1123SubdomainsOnlyAndNeverEchoesAHugeValue) {
  for (const char* ok : {"llama", "meta-llama3-8b", "a.b.c", "x1.y-2"}) EXPECT_FALSE(CheckName(ok)) << ok;
  EXPECT_FALSE(CheckName(std::string(253, 'a')));
  for (const char* bad : {"", ".a", "a.", "a..b", "-a", "a-.b", "Upper", "a_b", "a/b"}) {
    auto err = CheckName(bad);
    ASSERT_TRUE(err) << bad;
    EXPECT_NE(err->find("ScaledObjectRef.name"), std::string::npos) << *err;
    EXPECT_NE(err->find("DNS-1123 subdomain"), std::string::npos) << *err;
  }
  std::string huge(3 << 20, 'a');
  auto err = CheckName(huge);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("(3145728 bytes)"), std::string::npos) << *err;
  EXPECT_LT(err->size(), 300u);
  std::string nul("a\0b", 3);
  err = CheckName(nul);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->find('\0'), std::string::npos) << "control bytes are not echoed";
}

TEST(CapErrorText, KeepsShortTextAndCutsLongTextWithTheCount) {
  EXPECT_EQ(CapErrorText("short"), "short");
  std::string exact(kMaxErrorTextBytes, 'x');
  EXPECT_EQ(CapErrorText(exact), exact);
  std::string long_text(269 * 1024, 'y');
  std::string capped = CapErrorText(long_text);
  EXPECT_LE(capped.size(), kMaxErrorTextBytes);
  EXPECT_EQ(capped.substr(0, 100), std::string(100, 'y'));
  size_t kept = capped.find("...");
  ASSERT_NE(kept, std::string::npos);
  EXPECT_EQ(capped.substr(kept), "... (" + std::to_string(long_text.size() - kept) + " bytes cut)");
}

TEST(CapErrorText, NeverCutsInsideAUtf8Character) {
  std::string text;
  while (text.size() < 200) text += "\xC3\xA9";  // é, two bytes each
  for (size_t limit = 40; limit < 80; ++limit) {
    std::string capped = CapErrorText(text, limit);
    size_t dots = capped.find("...");
    ASSERT_NE(dots, std::string::npos);
    EXPECT_EQ(dots % 2, 0u) << "limit " << limit << " cut a character: " << capped;
    EXPECT_LE(capped.size(), limit);
  }
}

// Issue 19 item 13: 1e308 gave metricValueFloat +Inf (after averaging) and metricValue
// INT64_MIN; 4e19 gave INT64_MIN (an undefined double-to-int64 conversion).
TEST(MetricValue, AlwaysFiniteAndTheIntegerAlwaysDefined) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double v : {1e308, 4e19, inf, 9.3e18, 1e17}) {
    EXPECT_EQ(FiniteMetricValue(v), kMaxMetricValue) << v;
    EXPECT_EQ(MetricValueInt(v), int64_t{1} << 53) << v;
  }
  EXPECT_EQ(FiniteMetricValue(std::nan("")), 0);
  EXPECT_EQ(MetricValueInt(std::nan("")), 0);
  EXPECT_EQ(FiniteMetricValue(-inf), 0);
  EXPECT_EQ(MetricValueInt(-3.5), 0);
  EXPECT_EQ(MetricValueInt(2.08), 3);
  EXPECT_EQ(MetricValueInt(2.0), 2);
  EXPECT_EQ(FiniteMetricValue(2.08), 2.08);
  EXPECT_EQ(MetricValueInt(0.0001), 1);
}

}  // namespace
}  // namespace nimscaler::service
