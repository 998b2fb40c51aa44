// Issue 14 item 4: every JSON log line is one valid JSON object (written by nlohmann_json, so
// bytes that are not UTF-8 cannot break it) and levels are named as --log-level spells them.
#include "scaler/telemetry/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace nimscaler::telemetry {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Logging, JsonLinesAreValidUtf8ObjectsWithTheFlagsLevelNames) {
  std::ostringstream out;
  SetupLogging("json", "debug", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  auto log = Logger("test-json");
  log->warn("pod {} answered \"{}\"", "a", std::string("caf\xc3\xa9 \xff\xfe bad \x01 bytes\n"));
  log->debug("quiet");
  log->error("e");
  log->flush();
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  std::vector<std::string> levels;
  for (const auto& line : lines) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << "not JSON: " << line;
    EXPECT_EQ(doc.value("logger", ""), "test-json");
    EXPECT_FALSE(doc.value("ts", "").empty());
    levels.push_back(doc.value("level", ""));
  }
  EXPECT_EQ(levels, (std::vector<std::string>{"warn", "debug", "error"}));
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["msg"], "pod a answered \"caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd bad \x01 bytes\n\"")
      << "valid UTF-8 kept, each invalid byte replaced by U+FFFD, controls escaped";
}

TEST(Logging, TextLinesNameTheLevelAsTheFlagDoes) {
  std::ostringstream out;
  SetupLogging("text", "info", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  auto log = Logger("test-text");
  log->warn("careful");
  log->debug("not shown at info");
  log->flush();
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 1u) << out.str();
  EXPECT_NE(lines[0].find(" warn [test-text] careful"), std::string::npos) << lines[0];
}

}  // namespace
}  // namespace nimscaler::telemetry
