// Golden tables for the exposition parser: good inputs with a canonical dump of what was
// read, bad inputs with the error's line, column and reason, plus selection, error policy
// and format detection.
#include "scaler/signals/exposition/parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "scaler/signals/exposition/number.h"

namespace nimscaler::exposition {
namespace {

// name{k="v",...} value [@ts] [# exemplar] per selected sample; families as "F name type".
class Dumper : public SampleVisitor {
 public:
  void OnFamily(const Family& f) override { out += "F " + std::string(f.name) + " " + MetricTypeName(f.type) + "\n"; }
  void OnSample(const Sample& s) override {
    out += std::string(s.name) + "{";
    for (size_t i = 0; i < s.labels.size(); ++i) {
      if (i) out += ",";
      out += std::string(s.labels[i].name) + "=\"" + std::string(s.labels[i].value) + "\"";
    }
    char v[64];
    std::snprintf(v, sizeof v, "%.17g", s.value);
    out += "} " + std::string(v);
    if (s.timestamp_ms) out += " @" + std::to_string(*s.timestamp_ms);
    if (s.exemplar) {
      std::snprintf(v, sizeof v, "%.17g", s.exemplar->value);
      out += " #" + std::to_string(s.exemplar->labels.size()) + " " + v;
    }
    out += "\n";
  }
  std::string out;
};

std::string Dump(std::string_view body, Format f, Options o = {}) {
  Parser p(o);
  Dumper d;
  auto r = p.Parse(body, f, Selector::All(), d);
  if (!r.ok()) return "ERROR " + r.status().message();
  return d.out;
}

constexpr Format kProm = Format::kPrometheusText;
constexpr Format kOM = Format::kOpenMetrics;

struct Good {
  const char* what;
  Format format;
  const char* input;
  const char* dump;
};

const Good kGood[] = {
    {"gauge with labels", kProm, "# TYPE a gauge\na{b=\"c\"} 1\n", "F a gauge\na{b=\"c\"} 1\n"},
    {"escapes resolved", kProm, "a{b=\"q\\\"x\\\\y\\nz\"} 1\n", "F a untyped\na{b=\"q\"x\\y\nz\"} 1\n"},
    {"undefined escape kept", kProm, "a{b=\"\\z\"} 1\n", "F a untyped\na{b=\"\\z\"} 1\n"},
    {"NaN and infinities", kProm, "a NaN\nb +Inf\nc -Inf\nd Inf\n",
     "F a untyped\na{} nan\nF b untyped\nb{} inf\nF c untyped\nc{} -inf\nF d untyped\nd{} inf\n"},
    {"timestamp ms", kProm, "a 1 -1234\n", "F a untyped\na{} 1 @-1234\n"},
    {"colons in names", kProm, "vllm:num_requests_running{engine=\"0\"} 3\n",
     "F vllm:num_requests_running untyped\nvllm:num_requests_running{engine=\"0\"} 3\n"},
    {"empty label set", kProm, "a{} 2\n", "F a untyped\na{} 2\n"},
    {"trailing comma and blanks", kProm, "a { b = \"c\" , } \t 2 \n", "F a untyped\na{b=\"c\"} 2\n"},
    {"blank lines and no final newline", kProm, "\na 1\n\n\nb 2", "F a untyped\na{} 1\nF b untyped\nb{} 2\n"},
    {"CRLF when allowed", kProm, "a 1\r\nb 2\r\n", "ERROR"},
    {"quoted UTF-8 name", kProm, "{\"a.b\",c=\"d\"} 1\n", "F a.b untyped\na.b{c=\"d\"} 1\n"},
    {"quoted name anywhere and quoted label", kProm, "{c=\"d\",\"a.b\",\"x.y\"=\"z\"} 1\n",
     "F a.b untyped\na.b{c=\"d\",x.y=\"z\"} 1\n"},
    {"histogram, le anywhere, sum first", kProm,
     "# TYPE h histogram\nh_sum{m=\"x\"} 3\nh_bucket{m=\"x\",le=\"1\"} 1\nh_bucket{le=\"+Inf\",m=\"x\"} "
     "2\nh_count{m=\"x\"} 2\n",
     "F h histogram\nh_sum{m=\"x\"} 3\nh_bucket{m=\"x\",le=\"1\"} 1\nh_bucket{le=\"+Inf\",m=\"x\"} 2\nh_count{m=\"x\"} "
     "2\n"},
    {"summary", kProm, "# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns_sum 1\ns_count 0\n",
     "F s summary\ns{quantile=\"0.5\"} nan\ns_sum{} 1\ns_count{} 0\n"},
    {"0.0.4 counter keeps _total in its name", kProm,
     "# TYPE x_total counter\nx_total 5\n# TYPE x_created gauge\nx_created 1.7e9\n",
     "F x_total counter\nx_total{} 5\nF x_created gauge\nx_created{} 1700000000\n"},
    {"split summary family resumes its type", kProm, "# TYPE s summary\ns{quantile=\"0.5\"} 1\nother 2\ns_count 3\n",
     "F s summary\ns{quantile=\"0.5\"} 1\nF other untyped\nother{} 2\nF s summary\ns_count{} 3\n"},
    {"exponents with leading zero", kProm, "a 1.372014592e+010\n", "F a untyped\na{} 13720145920\n"},
    {"# EOF is a comment in 0.0.4", kProm, "a 1\n# EOF\n", "F a untyped\na{} 1\n"},
    {"OM counter with _total, _created, exemplar", kOM,
     "# TYPE c counter\n# HELP c help\nc_total{a=\"b\"} 3 # {id=\"x\"} 1 1.5\nc_created{a=\"b\"} 1.5e9\n# EOF\n",
     "F c counter\nc_total{a=\"b\"} 3 #1 1\nc_created{a=\"b\"} 1500000000\n"},
    {"OM timestamps are seconds", kOM, "a 1 1.5\n# EOF", "F a untyped\na{} 1 @1500\n"},
    {"OM info, stateset, gaugehistogram", kOM,
     "# TYPE i info\ni_info{v=\"1\"} 1\n# TYPE s stateset\ns{s=\"a\"} 1\n# TYPE g "
     "gaugehistogram\ng_bucket{le=\"+Inf\"} 2\ng_gcount 2\ng_gsum 1\n# EOF\n",
     "F i info\ni_info{v=\"1\"} 1\nF s stateset\ns{s=\"a\"} 1\nF g gaugehistogram\ng_bucket{le=\"+Inf\"} 2\ng_gcount{} "
     "2\ng_gsum{} 1\n"},
    {"OM hash and braces in label values", kOM, "a{b=\"} # {\"} 1\n# EOF\n", "F a untyped\na{b=\"} # {\"} 1\n"},
};

TEST(ExpositionGolden, GoodInputs) {
  for (const Good& g : kGood) {
    SCOPED_TRACE(g.what);
    const std::string got = Dump(g.input, g.format);
    if (std::string(g.dump) == "ERROR") {
      EXPECT_THAT(got, ::testing::StartsWith("ERROR"));
    } else {
      EXPECT_EQ(got, g.dump);
    }
  }
}

TEST(ExpositionGolden, CrlfOnlyWhenAllowed) {
  Options o;
  o.allow_crlf = true;
  EXPECT_EQ(Dump("a 1\r\nb 2\r\n", kProm, o), "F a untyped\na{} 1\nF b untyped\nb{} 2\n");
}

struct Bad {
  const char* what;
  Format format;
  const char* input;
  uint32_t line;
  uint32_t column;
  const char* reason;
};

const Bad kBad[] = {
    {"no value", kProm, "a\n", 1, 2, "expected a value"},
    {"single quotes", kProm, "a{b='c'} 1\n", 1, 5, "expected '\"'"},
    {"raw newline in value", kProm, "a 1\na{b=\"c\n\"} 1\n", 2, 5, "unterminated label value"},
    {"bad float", kProm, "a 1_2\n", 1, 3, "invalid sample value"},
    {"hex float", kProm, "a 0x1p-3\n", 1, 3, "invalid sample value"},
    {"overflow", kProm, "a 1e400\n", 1, 3, "invalid sample value"},
    {"float timestamp", kProm, "a 1 2.5\n", 1, 5, "invalid timestamp"},
    {"extra token", kProm, "a 1 2 3\n", 1, 7, "unexpected text"},
    {"no metric name", kProm, "{a=\"b\"} 1\n", 1, 1, "metric name not set"},
    {"two metric names", kProm, "{\"a\",\"b\"} 1\n", 1, 6, "metric name already set"},
    {"duplicate label", kProm, "a{b=\"1\",b=\"2\"} 1\n", 1, 9, "duplicate label name"},
    {"invalid UTF-8", kProm, "a{b=\"\xff\"} 1\n", 1, 6, "invalid UTF-8"},
    {"bad type", kProm, "# TYPE a flubber\n", 1, 10, "invalid metric type"},
    {"exemplar in 0.0.4", kProm, "a 1 # {} 1\n", 1, 5, "only valid in OpenMetrics"},
    {"empty label name", kProm, "a{=\"b\"} 1\n", 1, 3, "expected label name"},
    {"OM missing EOF", kOM, "a 1\n", 2, 1, "does not end with # EOF"},
    {"OM text after EOF", kOM, "# EOF\n\n", 2, 1, "after # EOF"},
    {"OM blank line", kOM, "a 1\n\n# EOF\n", 2, 1, "blank lines"},
    {"OM double space", kOM, "a  1\n# EOF\n", 1, 3, "expected a value"},
    {"OM tab", kOM, "a\t1\n# EOF\n", 1, 2, "expected ' '"},
    {"OM comment", kOM, "# hello\n# EOF\n", 1, 1, "expected \"# HELP\""},
    {"OM untyped", kOM, "# TYPE a untyped\n# EOF\n", 1, 10, "invalid metric type"},
    {"OM NaN timestamp", kOM, "a 1 NaN\n# EOF\n", 1, 5, "invalid timestamp"},
    {"OM exemplar without value", kOM, "a_total 1 # {a=\"b\"}\n# EOF\n", 1, 20, "expected a value after exemplar"},
};

TEST(ExpositionGolden, BadInputsCarryLineColumnAndExcerpt) {
  for (const Bad& b : kBad) {
    SCOPED_TRACE(b.what);
    Parser p;
    Dumper d;
    auto r = p.Parse(b.input, b.format, Selector::All(), d);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(p.error().line, b.line);
    EXPECT_EQ(p.error().column, b.column);
    EXPECT_THAT(p.error().message, ::testing::HasSubstr(b.reason));
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr("line " + std::to_string(b.line)));
  }
}

TEST(ExpositionGolden, ExcerptEscapesControlBytesAndIsBounded) {
  std::string line = "a{b=\"" + std::string(300, 'x') + "\x01\"} oops\n";
  Parser p;
  Dumper d;
  ASSERT_FALSE(p.Parse(line, kProm, Selector::All(), d).ok());
  EXPECT_LE(p.error().excerpt.size(), 100u);
  EXPECT_THAT(p.error().excerpt, ::testing::HasSubstr("\\x01"));
}

// Policy: by default one malformed line fails the whole body; kSkipLine keeps the rest.
TEST(ExpositionErrorPolicy, OneBadLineFailsTheBodyByDefault) {
  const char* body = "a 1\nb{ 2\nc 3\n";
  Parser p;
  Dumper d;
  auto r = p.Parse(body, kProm, Selector::All(), d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(p.error().line, 2u);
  // ParseSelected (the engine's entry point) returns no series at all.
  auto sel = ParseSelected(body, "text/plain; version=0.0.4", {"a", "c"});
  ASSERT_FALSE(sel.ok());
  EXPECT_THAT(sel.status().message(), ::testing::HasSubstr("line 2, column"));
}

TEST(ExpositionErrorPolicy, SkipLineKeepsTheOthersAndCounts) {
  Options o;
  o.error_policy = ErrorPolicy::kSkipLine;
  Parser p(o);
  Dumper d;
  auto r = p.Parse("a 1\nb{ 2\nc 3\nd x\n", kProm, Selector::All(), d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->skipped_lines, 2u);
  EXPECT_EQ(p.error().line, 2u);  // the first one is kept
  EXPECT_THAT(d.out, ::testing::HasSubstr("a{} 1"));
  EXPECT_THAT(d.out, ::testing::HasSubstr("c{} 3"));
}

TEST(ExpositionSelection, FamiliesSuffixesAndLabelFilters) {
  const char* body =
      "# TYPE lat histogram\nlat_bucket{le=\"1\",m=\"a\"} 1\nlat_bucket{le=\"+Inf\",m=\"a\"} 2\n"
      "lat_sum{m=\"a\"} 3\nlat_count{m=\"a\"} 2\n# TYPE run gauge\nrun{m=\"a\"} 4\nrun{m=\"b\"} 5\n"
      "# TYPE tok_total counter\ntok_total 6\nother 7\n";
  Selector s;
  s.AddFamily("lat").AddFamily("run", {{"m", "b"}}).AddFamily("tok");
  Parser p;
  Dumper d;
  auto r = p.Parse(body, kProm, s, d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->samples, 8u);
  EXPECT_EQ(r->selected_samples, 6u);
  EXPECT_THAT(d.out, ::testing::HasSubstr("lat_count{m=\"a\"} 2"));
  EXPECT_THAT(d.out, ::testing::HasSubstr("run{m=\"b\"} 5"));
  EXPECT_THAT(d.out, ::testing::Not(::testing::HasSubstr("run{m=\"a\"}")));
  EXPECT_THAT(d.out, ::testing::HasSubstr("tok_total{} 6"));
  EXPECT_THAT(d.out, ::testing::Not(::testing::HasSubstr("other{}")));
  // Every family is still reported, selected or not.
  EXPECT_THAT(d.out, ::testing::HasSubstr("F other untyped"));
}

TEST(ExpositionSelection, FastSkipDoesNotValidateUnselectedLines) {
  const char* body = "keep 1\nbroken{ 2\n";
  Selector s;
  s.AddSample("keep");
  Dumper d1;
  EXPECT_FALSE(Parser().Parse(body, kProm, s, d1).ok());
  Options o;
  o.validate_unselected = false;
  Dumper d2;
  EXPECT_TRUE(Parser(o).Parse(body, kProm, s, d2).ok());
  EXPECT_THAT(d2.out, ::testing::HasSubstr("keep{} 1"));
}

TEST(ExpositionSelection, ValuesAreViewsIntoTheBodyUnlessEscaped) {
  const std::string body = "a{plain=\"x\",esc=\"y\\\\z\"} 1\n";
  struct V : SampleVisitor {
    const std::string* body;
    bool plain_in_body = false, esc_in_body = true;
    void OnSample(const Sample& s) override {
      auto in = [&](std::string_view v) { return v.data() >= body->data() && v.data() < body->data() + body->size(); };
      plain_in_body = in(*s.Find("plain"));
      esc_in_body = in(*s.Find("esc"));
      EXPECT_EQ(*s.Find("esc"), "y\\z");
      EXPECT_TRUE(in(s.name));
    }
  } v;
  v.body = &body;
  ASSERT_TRUE(Parser().Parse(body, kProm, Selector::All(), v).ok());
  EXPECT_TRUE(v.plain_in_body);
  EXPECT_FALSE(v.esc_in_body);
}

TEST(ExpositionParseSelected, KeepsSignatureAndSemantics) {
  auto r = ParseSelected("# TYPE g gauge\ng{m=\"x\"} NaN\ng{m=\"y\"} -Inf\nh 1\n", "text/plain", {"g"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_TRUE(std::isnan(r->series[0].value));
  EXPECT_EQ(r->series[0].Label("m"), "x");
  EXPECT_EQ(r->series[1].value, -INFINITY);
  EXPECT_EQ(r->families, (std::vector<std::string>{"g", "h"}));
}

TEST(ExpositionFormat, ChosenByContentTypeWithFallback) {
  EXPECT_EQ(DetectFormat("application/openmetrics-text; version=1.0.0; charset=utf-8", ""), Format::kOpenMetrics);
  EXPECT_EQ(DetectFormat("text/plain; version=0.0.4", "a 1\n# EOF\n"), Format::kPrometheusText);
  EXPECT_EQ(DetectFormat("", "a_total 1\n# EOF\n"), Format::kOpenMetrics);
  EXPECT_EQ(DetectFormat("garbage", "a 1\n"), Format::kPrometheusText);
  EXPECT_EQ(DetectFormat("", "a 1\n\n# EOF\n"), Format::kPrometheusText);
}

TEST(ExpositionNumbers, GoGrammar) {
  EXPECT_EQ(ParseFloat("1.5E+07"), 1.5e7);
  EXPECT_EQ(ParseFloat(".5"), 0.5);
  EXPECT_EQ(ParseFloat("5."), 5.0);
  EXPECT_EQ(ParseFloat("0042"), 42.0);
  EXPECT_EQ(ParseFloat("0.07500000000000001"), 0.07500000000000001);
  EXPECT_EQ(ParseFloat("1e-400"), 0.0);
  EXPECT_EQ(ParseFloat("-Infinity"), -INFINITY);
  EXPECT_TRUE(std::isnan(*ParseFloat("nan")));
  for (const char* bad : {"", "+nan", "1_2", "0x1p-3", "0x1", "true", "1e400", ".", "1e", "inf."}) {
    EXPECT_FALSE(ParseFloat(bad).has_value()) << bad;
  }
  EXPECT_EQ(ParseInt64("-3982045"), -3982045);
  EXPECT_FALSE(ParseInt64("2.72").has_value());
  EXPECT_FALSE(ParseInt64("+-1").has_value());
}

// The parser has a one-pass fast path for the usual line shapes and a general lexer for
// everything else. A leading blank (harmless in 0.0.4) sends every line to the general
// lexer, so parsing each 0.0.4 corpus body with and without it must read the same.
TEST(ExpositionFastPath, ReadsEveryCorpusLineLikeTheGeneralLexer) {
  int bodies = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(NIMSCALER_TESTDATA_DIR) + "/exposition")) {
    if (!entry.is_regular_file() || entry.path().extension() != ".prom") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string body = ss.str();
    std::string shifted;
    size_t start = 0;
    while (start < body.size()) {
      const size_t nl = body.find('\n', start);
      const size_t stop = nl == std::string::npos ? body.size() : nl + 1;
      shifted += ' ';
      shifted.append(body, start, stop - start);
      start = stop;
    }
    for (Strictness st : {Strictness::kPrometheus, Strictness::kSpec}) {
      SCOPED_TRACE(entry.path().filename().string() + (st == Strictness::kSpec ? " spec" : ""));
      Options o;
      o.strictness = st;
      const std::string fast = Dump(body, kProm, o);
      const std::string general = Dump(shifted, kProm, o);
      if (fast.rfind("ERROR", 0) == 0 || general.rfind("ERROR", 0) == 0) {
        // Same verdict and line; the column moves by the added blank.
        EXPECT_EQ(fast.substr(0, fast.find(',')), general.substr(0, general.find(',')));
      } else {
        EXPECT_EQ(fast, general);
      }
    }
    ++bodies;
  }
  EXPECT_GT(bodies, 50);
}

// Checks ParseFloat and its fast path against strtod, bit for bit, on one decimal token
// (digits, '.', exponent, sign: the part of Go's grammar that strtod reads the same way).
void ExpectSameAsStrtod(const std::string& token) {
  SCOPED_TRACE(token);
  const double want = std::strtod(token.c_str(), nullptr);
  const auto got = ParseFloat(token);
  if (std::isinf(want)) {
    EXPECT_FALSE(got.has_value());  // overflow is an error, as Go's ErrRange
    return;
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(std::memcmp(&want, &*got, sizeof want), 0) << *got << " vs " << want;
  // The fast path either declines or agrees, and stops exactly at the end of the token.
  const std::string line = token + " 1700000000000";
  double fast = 0;
  const char* end = ParseDecimalPrefix(line.data(), line.data() + line.size(), &fast);
  if (end != nullptr) {
    EXPECT_EQ(end, line.data() + token.size());
    EXPECT_EQ(std::memcmp(&want, &fast, sizeof want), 0) << fast << " vs " << want;
  }
  // Digits readable past `end` (up to `limit`) must be ignored.
  const std::string more = token + "12345678901234567890";
  double fast2 = 0;
  const char* end2 = ParseDecimalPrefix(more.data(), more.data() + token.size(), &fast2, more.data() + more.size());
  EXPECT_EQ(end2 != nullptr, end != nullptr);
  if (end2 != nullptr) {
    EXPECT_EQ(end2, more.data() + token.size());
    EXPECT_EQ(std::memcmp(&want, &fast2, sizeof want), 0) << fast2 << " vs " << want;
  }
}

TEST(ExpositionNumbers, BitIdenticalToStrtodOnRandomDecimals) {
  std::mt19937_64 rng(20261128);
  auto digits = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('0' + rng() % 10);
    return s;
  };
  int fast_hits = 0;
  for (int iter = 0; iter < 300000; ++iter) {
    std::string t;
    switch (rng() % 3) {
      case 0: t = "-"; break;
      case 1: t = rng() % 4 == 0 ? "+" : ""; break;
      default: break;
    }
    const int int_digits = 1 + static_cast<int>(rng() % 20);
    t += digits(int_digits);
    if (rng() % 2) {
      t += '.';
      t += digits(static_cast<int>(rng() % 20));
    }
    if (rng() % 3 == 0) {
      t += rng() % 2 ? "e" : "E";
      const int r = static_cast<int>(rng() % 4);
      if (r == 1) t += "-";
      if (r == 2) t += "+";
      t += std::to_string(rng() % (rng() % 4 == 0 ? 400 : 30));
    }
    double unused;
    if (ParseDecimalPrefix(t.data(), t.data() + t.size(), &unused) != nullptr) ++fast_hits;
    ExpectSameAsStrtod(t);
    if (HasFailure()) return;
  }
  EXPECT_GT(fast_hits, 50000);  // the fast path is actually exercised
  // Edges of exactness: 2^53 around, 1e22 vs 1e23, 19 and 20 digits, zeros, subnormals.
  for (const char* t : {"9007199254740991",
                        "9007199254740992",
                        "9007199254740993",
                        "9007199254740993e-3",
                        "900719925474099.3",
                        "1e22",
                        "1e23",
                        "1e-22",
                        "1e-23",
                        "9999999999999999999",
                        "99999999999999999999",
                        "12345678901234567890e-5",
                        "0",
                        "-0",
                        "-0.0e5",
                        "0e9999",
                        "0000000000000000000001",
                        "0.0000000000000000000001",
                        "4.9e-324",
                        "2.2250738585072014e-308",
                        "1.7976931348623157e308",
                        "1.7976931348623159e308",
                        "8.589973e9",
                        "0.1",
                        "0.3",
                        "5.",
                        "5.e3",
                        "1234567.891e-7",
                        "7.6238e-05",
                        "44.985611511",
                        "15.330000000000002"}) {
    ExpectSameAsStrtod(t);
  }
}

TEST(ExpositionNumbers, BitIdenticalToStrtodOnTheCorpus) {
  int checked = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(NIMSCALER_TESTDATA_DIR) + "/exposition")) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string body = ss.str();
    // Every token made only of number bytes, e.g. values, timestamps, and le="..." contents.
    size_t i = 0;
    while (i < body.size()) {
      size_t j = i;
      while (j < body.size() && std::strchr("0123456789+-.eE", body[j]) != nullptr && body[j] != '\0') ++j;
      if (j > i && ((body[i] >= '0' && body[i] <= '9') || body[i] == '-' || body[i] == '+') && j - i < 400) {
        std::string t = body.substr(i, j - i);
        // Only well-formed decimals: strtod would read a prefix of anything else.
        char* endp = nullptr;
        (void)std::strtod(t.c_str(), &endp);
        if (endp == t.c_str() + t.size()) {
          ExpectSameAsStrtod(t);
          ++checked;
        }
      }
      i = j + 1;
    }
  }
  EXPECT_GT(checked, 5000);
}

}  // namespace
}  // namespace nimscaler::exposition
