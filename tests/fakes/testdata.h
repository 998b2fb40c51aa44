#pragma once
// Reading tests/testdata files and rewriting single samples of a capture.

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>

namespace nimscaler::testing {

inline std::string ReadTestdata(const std::string& relative) {
  std::ifstream in(std::string(NIMSCALER_TESTDATA_DIR) + "/" + relative, std::ios::binary);
  if (!in) throw std::runtime_error("missing testdata file " + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Replaces the value of every sample of `metric` (any labels) with `value`.
inline std::string WithSample(const std::string& body, const std::string& metric, const std::string& value) {
  std::regex line("^(" + metric + R"((\{[^}]*\})?) \S+)", std::regex::multiline);
  if (!std::regex_search(body, line)) throw std::runtime_error("no sample of " + metric + " to rewrite");
  return std::regex_replace(body, line, "$1 " + value);
}

inline std::string NimCapture() { return ReadTestdata("engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom"); }

}  // namespace nimscaler::testing
