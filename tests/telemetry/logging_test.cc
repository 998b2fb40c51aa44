// Issue 14 item 4: every JSON log line is one valid JSON object (written by nlohmann_json, so
// bytes that are not UTF-8 cannot break it) and levels are named as --log-level spells them;
// a line's structured fields (LogFields) are top-level JSON keys and key=value text, and no
// field value, however hostile, breaks the one-object-per-line form.
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

// Issue 14 item 4 (structured fields): each set field is a top-level key named as log
// pipelines filter on; unset ones are absent; a line without fields (before or after) has none.
TEST(Logging, JsonFieldsAreTopLevelKeysOnlyWhenSet) {
  std::ostringstream out;
  SetupLogging("json", "info", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  auto log = Logger("test-fields");
  log->info("before");
  Log(log, spdlog::level::warn,
      {.ns = "nim", .scaledobject = "llama", .trigger = "s0-nim-llama", .pod = "10.1.2.3:8000", .code = "UNAVAILABLE"},
      "{}/{}: scrape failed", "nim", "llama");
  Log(*log, spdlog::level::info, {.ns = "nim", .scaledobject = "llama"}, "partial");
  Log(log, spdlog::level::debug, {.ns = "quiet"}, "below the level");
  log->info("after");
  log->flush();
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 4u) << out.str();
  const std::vector<std::string> kFieldKeys = {"namespace", "scaledobject", "trigger", "pod", "code"};
  for (size_t i : {0u, 3u}) {
    auto doc = nlohmann::json::parse(lines[i]);
    for (const auto& k : kFieldKeys)
      EXPECT_FALSE(doc.contains(k)) << "a line without fields has no " << k << ": " << lines[i];
  }
  auto full = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(full["msg"], "nim/llama: scrape failed");
  EXPECT_EQ(full["level"], "warn");
  EXPECT_EQ(full["namespace"], "nim");
  EXPECT_EQ(full["scaledobject"], "llama");
  EXPECT_EQ(full["trigger"], "s0-nim-llama");
  EXPECT_EQ(full["pod"], "10.1.2.3:8000");
  EXPECT_EQ(full["code"], "UNAVAILABLE");
  auto partial = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(partial["namespace"], "nim");
  EXPECT_EQ(partial["scaledobject"], "llama");
  EXPECT_FALSE(partial.contains("trigger") || partial.contains("pod") || partial.contains("code")) << lines[2];
}

// Issue 14 item 4: hostile field values (invalid UTF-8, quotes, newlines, NUL, braces) still
// give exactly one valid JSON object per line, and the keys of the line cannot be overridden.
TEST(Logging, HostileFieldValuesKeepOneValidJsonObjectPerLine) {
  std::ostringstream out;
  SetupLogging("json", "info", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  auto log = Logger("test-hostile");
  static constexpr char kNulAndQuotes[] = "a\"b\0c\"}\n{\"level\":\"error\"";
  const std::string nul_and_quotes(kNulAndQuotes, sizeof kNulAndQuotes - 1);
  const std::string bad_utf8 = "caf\xc3\xa9\xff\xc3(\xed\xa0\x80";
  const std::string newlines = "line1\nline2\r\nline3\u2028";
  const std::string controls =
      "tab\tbell\x07"
      "del\x7f";
  Log(log, spdlog::level::err,
      {.ns = nul_and_quotes, .scaledobject = bad_utf8, .trigger = newlines, .pod = controls, .code = "\xff\xfe"},
      "msg with {}", bad_utf8);
  log->flush();
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 1u) << "one event, one line: " << out.str();
  auto doc = nlohmann::json::parse(lines[0], nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << lines[0];
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["level"], "error") << "a field cannot rewrite the line's own keys";
  EXPECT_EQ(doc["namespace"].get<std::string>(), nul_and_quotes) << "valid UTF-8 with NUL and quotes kept as is";
  EXPECT_EQ(doc["scaledobject"].get<std::string>(),
            "caf\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd")
      << "each invalid byte becomes U+FFFD";
  EXPECT_EQ(doc["trigger"].get<std::string>(), newlines);
  EXPECT_EQ(doc["pod"].get<std::string>(), controls);
  EXPECT_EQ(doc["code"].get<std::string>(), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(doc["msg"].get<std::string>(),
            "msg with caf\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

// Issue 14 item 4: text lines keep today's form and add the fields after the message as
// key=value; a value that would break the line or the pairs is quoted with escapes.
TEST(Logging, TextLinesCarryFieldsAsKeyValueAfterTheMessage) {
  std::ostringstream out;
  SetupLogging("text", "info", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  auto log = Logger("test-text-fields");
  Log(log, spdlog::level::warn,
      {.ns = "nim", .scaledobject = "llama", .trigger = "s0-nim-llama", .pod = "10.1.2.3:8000"},
      "nim/llama: scrape of {} failed", "http://10.1.2.3:8000/metrics");
  Log(log, spdlog::level::info, {.ns = "nim", .scaledobject = std::string_view("a b\n\"c\"=\\\0x", 11)}, "hostile");
  log->info("plain");
  log->flush();
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  EXPECT_NE(lines[0].find(" warn [test-text-fields] nim/llama: scrape of http://10.1.2.3:8000/metrics failed "
                          "namespace=nim scaledobject=llama trigger=s0-nim-llama pod=10.1.2.3:8000"),
            std::string::npos)
      << lines[0];
  EXPECT_TRUE(lines[0].ends_with("pod=10.1.2.3:8000")) << lines[0];
  EXPECT_TRUE(lines[1].ends_with(R"(hostile namespace=nim scaledobject="a b\n\"c\"=\\\x00x")")) << lines[1];
  EXPECT_TRUE(lines[2].ends_with(" info [test-text-fields] plain")) << "no fields, no suffix: " << lines[2];
}

// Issue 14 item 4: the pod field of a scraped URL is host:port, never its userinfo.
TEST(Logging, PodOfUrlIsHostAndPortWithoutUserinfo) {
  EXPECT_EQ(PodOfUrl("http://10.1.2.3:8000/metrics"), "10.1.2.3:8000");
  EXPECT_EQ(PodOfUrl("https://user:s3cret@pod-0.nim:8443/v1/metrics?x=1"), "pod-0.nim:8443");
  EXPECT_EQ(PodOfUrl("http://a@b@[::1]:9000"), "[::1]:9000");
  EXPECT_EQ(PodOfUrl("llama-0"), "llama-0");
  EXPECT_EQ(PodOfUrl(""), "");
}

}  // namespace
}  // namespace nimscaler::telemetry
