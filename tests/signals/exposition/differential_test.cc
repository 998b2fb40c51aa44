// Differential test against Go's prometheus/common expfmt (Debian 12:
// golang-go + golang-github-prometheus-common-dev). The test builds
// tests/differential/expfmt_dump offline into the build directory, then for every corpus
// file that expfmt accepts compares the families, series and values both parsers read.
// Skips (with the reason) only when the Go toolchain or the expfmt sources are missing.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/signals/exposition/canonical.h"

namespace nimscaler::exposition {
namespace {

namespace fs = std::filesystem;

const std::string kCorpusDir = std::string(NIMSCALER_TESTDATA_DIR) + "/exposition";
const std::string kBin = std::string(NIMSCALER_BINARY_DIR) + "/expfmt_dump";

// Files where Debian's expfmt 0.39 and we disagree on purpose, with the reason.
const std::map<std::string, std::string> kKnownDeviations = {
    {"expfmt-ok-16.prom",
     "TYPE gauge_histogram: expfmt 0.39 ignores it and splits the samples into untyped "
     "families; newer expfmt (the one cases/INDEX.tsv records) reads a histogram, as we do"},
    {"expfmt-ok-17.prom", "same as expfmt-ok-16"},
};

struct ShellRun {
  int status = -1;
  std::string out;
};

ShellRun Shell(const std::string& cmd) {
  ShellRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 65536> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class ExpositionDifferential : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (Shell("command -v go >/dev/null 2>&1").status != 0) {
      skip_ = "go is not installed (apt-get install golang-go)";
      return;
    }
    if (!fs::exists("/usr/share/gocode/src/github.com/prometheus/common/expfmt")) {
      skip_ = "expfmt sources missing (apt-get install golang-github-prometheus-common-dev)";
      return;
    }
    const std::string src = std::string(NIMSCALER_SOURCE_DIR) + "/tests/differential/expfmt_dump";
    const std::string cache = std::string(NIMSCALER_BINARY_DIR) + "/gocache";
    ShellRun b = Shell("cd '" + src + "' && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE='" + cache +
                       "' go build -o '" + kBin + "' . 2>&1");
    if (b.status != 0) build_error_ = b.out.empty() ? "go build failed" : b.out;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(build_error_.empty()) << build_error_;
  }
  static std::string skip_;
  static std::string build_error_;
};
std::string ExpositionDifferential::skip_;
std::string ExpositionDifferential::build_error_;

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

TEST_F(ExpositionDifferential, SameFamiliesSeriesAndValuesAsExpfmt) {
  std::vector<fs::path> files;
  for (const char* sub : {"", "/cases", "/openmetrics-conformance"}) {
    for (const auto& e : fs::directory_iterator(kCorpusDir + sub)) {
      const std::string n = e.path().filename().string();
      if (e.is_regular_file() && n != "INDEX.tsv" && n != "ATTRIBUTION.md") files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  int compared = 0, go_rejects = 0, deviations = 0, real_files = 0;
  for (const fs::path& path : files) {
    const std::string name = path.filename().string();
    SCOPED_TRACE(name);
    ShellRun go = Shell("'" + kBin + "' dump '" + path.string() + "' 2>/dev/null");
    if (go.status == 2) {
      ++go_rejects;
      continue;
    }
    ASSERT_EQ(go.status, 0);
    // Go appends a missing final newline; so do we (0.0.4 either way, as expfmt reads it).
    std::string body = testing::ReadFile(path.string());
    if (!body.empty() && body.back() != '\n') body += '\n';
    auto ours = testing::CanonicalRows(body, Format::kPrometheusText);
    ASSERT_TRUE(ours.ok()) << "expfmt accepts it but we reject: " << ours.status().message();
    const std::vector<std::string> theirs = Lines(go.out);
    if (auto it = kKnownDeviations.find(name); it != kKnownDeviations.end()) {
      EXPECT_NE(*ours, theirs) << "deviation no longer happens: " << it->second;
      ++deviations;
      continue;
    }
    EXPECT_EQ(*ours, theirs);
    ++compared;
    if (path.parent_path().string() == kCorpusDir) ++real_files;
  }
  // 11 of the 16 real files (expfmt 0.39 has no quoted names, no exemplars, no missing
  // commas and no `\ ` escapes), and most of cases/ and the conformance suite.
  EXPECT_EQ(real_files, 11);
  EXPECT_GE(compared, 150);
  EXPECT_EQ(deviations, 2);
  std::printf("differential: %d files agree, %d known deviations, %d rejected by expfmt\n", compared, deviations,
              go_rejects);
}

}  // namespace
}  // namespace nimscaler::exposition
