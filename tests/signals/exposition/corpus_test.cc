// Every file of the exposition corpus (tests/testdata/exposition, copied from the project
// corpus with its attribution): the real scrapes parse with the counts SOURCES records, and
// the recorded accept/reject decisions of cases/INDEX.tsv and of the OpenMetrics conformance
// suite hold.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "scaler/signals/exposition/parser.h"
#include "tests/signals/exposition/canonical.h"

namespace nimscaler::exposition {
namespace {

const std::string kDir = std::string(NIMSCALER_TESTDATA_DIR) + "/exposition";

class Counter : public SampleVisitor {
 public:
  void OnSample(const Sample&) override { ++n; }
  size_t n = 0;
};

Result<ParseStats> ParseFile(const std::string& path, Format f, Options o = {}) {
  const std::string body = testing::ReadFile(path);
  Counter c;
  return Parser(o).Parse(body, f, Selector::All(), c);
}

Format FormatOf(const std::string& name) {
  return name.find(".om.txt") != std::string::npos ? Format::kOpenMetrics : Format::kPrometheusText;
}

TEST(ExpositionCorpus, EveryTopLevelFileParses) {
  // Sample counts from SOURCES.md / the Go benchmark anchors, where it states them.
  const std::map<std::string, size_t> known = {
      {"prometheus-server-alltypes-237mfs.prom", 1857},
      {"tgi-v3-datadog-fixture.prom", 1888},
      {"prometheus-textparse-promtestdata-2017.prom", 410},
      {"prometheus-common-expfmt-testdata-text.prom", 248},
  };
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(kDir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "ATTRIBUTION.md") continue;
    SCOPED_TRACE(name);
    ++files;
    auto r = ParseFile(e.path().string(), FormatOf(name));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_GT(r->samples, 0u);
    if (auto it = known.find(name); it != known.end()) {
      EXPECT_EQ(r->samples, it->second);
    }
  }
  EXPECT_EQ(files, 16u);
}

TEST(ExpositionCorpus, AllTypes237HasItsFamilies) {
  struct V : SampleVisitor {
    std::map<MetricType, int> types;
    void OnFamily(const Family& f) override { ++types[f.type]; }
    void OnSample(const Sample&) override {}
  } v;
  const std::string body = testing::ReadFile(kDir + "/prometheus-server-alltypes-237mfs.prom");
  ASSERT_TRUE(Parser().Parse(body, Format::kPrometheusText, Selector::All(), v).ok());
  EXPECT_EQ(v.types[MetricType::kCounter], 112);
  EXPECT_EQ(v.types[MetricType::kGauge], 97);
  EXPECT_EQ(v.types[MetricType::kHistogram], 15);
  EXPECT_EQ(v.types[MetricType::kSummary], 13);
}

std::vector<std::vector<std::string>> ReadTsv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    rows.push_back(cols);
  }
  return rows;
}

// cases/INDEX.tsv records three reference parsers. textparse's decisions are our default
// (Strictness::kPrometheus); expfmt's are our Strictness::kSpec for 0.0.4.
TEST(ExpositionCorpus, CasesIndexDecisions) {
  const auto rows = ReadTsv(kDir + "/cases/INDEX.tsv");
  ASSERT_EQ(rows.size(), 175u);
  int checked = 0;
  for (const auto& row : rows) {
    ASSERT_GE(row.size(), 4u);
    const std::string& file = row[0];
    const bool expfmt = row[2].find("expfmt") != std::string::npos;
    const bool expect_ok = row[3] == "ok";
    SCOPED_TRACE(file + " (" + row[2] + "): " + (row.size() > 4 ? row[4] : ""));
    Options o;
    if (expfmt) o.strictness = Strictness::kSpec;
    const Format f = row[1] == "openmetrics-1.0" ? Format::kOpenMetrics : Format::kPrometheusText;
    auto r = ParseFile(kDir + "/cases/" + file, f, o);
    EXPECT_EQ(r.ok(), expect_ok) << (r.ok() ? "parsed" : r.status().message());
    ++checked;
  }
  EXPECT_EQ(checked, 175);
}

TEST(ExpositionCorpus, OpenMetricsConformanceSuite) {
  const auto rows = ReadTsv(kDir + "/openmetrics-conformance/INDEX.tsv");
  ASSERT_EQ(rows.size(), 211u);
  int good = 0, bad = 0;
  Options o;
  o.strictness = Strictness::kSpec;
  for (const auto& row : rows) {
    ASSERT_GE(row.size(), 2u);
    SCOPED_TRACE(row[0]);
    const bool should_parse = row[1] == "True";
    auto r = ParseFile(kDir + "/openmetrics-conformance/" + row[0], Format::kOpenMetrics, o);
    EXPECT_EQ(r.ok(), should_parse) << (r.ok() ? "parsed" : r.status().message());
    (should_parse ? good : bad)++;
  }
  EXPECT_EQ(good, 44);
  EXPECT_EQ(bad, 167);
}

}  // namespace
}  // namespace nimscaler::exposition
