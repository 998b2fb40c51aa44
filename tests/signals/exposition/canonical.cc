// Exports CanonicalRows() and ReadFile() for the exposition tests.
#include "tests/signals/exposition/canonical.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "scaler/signals/exposition/number.h"
#include "scaler/signals/exposition/parser.h"

namespace nimscaler::exposition::testing {
namespace {

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(bits));
  return buf;
}

std::string Hex(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// float64(uint64(v)) as Go computes it on amd64: a negative count (invalid, but expfmt 0.39
// accepts it) goes through int64 and wraps around.
double AsCount(double v) {
  if (std::isnan(v)) return 9223372036854775808.0;  // CVTTSD2SI's "indefinite" 1<<63
  if (v >= 1.8e19 || v <= -9.2e18) return v;
  if (v < 0) return static_cast<double>(static_cast<uint64_t>(static_cast<int64_t>(v)));
  return static_cast<double>(static_cast<uint64_t>(v));
}

class RowCollector : public SampleVisitor {
 public:
  void OnSample(const Sample& s) override {
    std::string family(s.family);
    std::string name;
    std::string extra_name;
    double extra = 0;
    double value = s.value;
    bool keep_ts = false;
    std::string_view skip;
    const bool hist = s.type == MetricType::kHistogram || s.type == MetricType::kGaugeHistogram;
    // expfmt creates the family (and an empty metric) even for samples it then drops.
    families.emplace(family, MetricTypeName(s.type));
    if (hist) {
      switch (s.role) {
        case SampleRole::kBucket:
          name = family + "_bucket";
          skip = "le";
          value = AsCount(value);
          break;
        case SampleRole::kSum: name = family + "_sum"; break;
        case SampleRole::kCount:
          name = family + "_count";
          value = AsCount(value);
          break;
        default: return;  // expfmt drops it
      }
      if (skip == "le") {
        auto le = s.Find("le");
        extra_name = "le";
        extra = le ? ParseFloat(*le).value_or(NAN) : NAN;
        if (std::isnan(extra)) return;  // expfmt keeps no bucket without a numeric bound
      }
    } else if (s.type == MetricType::kSummary) {
      switch (s.role) {
        case SampleRole::kValue: {
          auto q = s.Find("quantile");
          if (!q) return;  // expfmt drops it
          name = family;
          skip = "quantile";
          extra_name = "quantile";
          extra = ParseFloat(*q).value_or(NAN);
          if (std::isnan(extra)) return;  // expfmt keeps no NaN quantile
          break;
        }
        case SampleRole::kSum: name = family + "_sum"; break;
        case SampleRole::kCount:
          name = family + "_count";
          value = AsCount(value);
          break;
        default: return;
      }
    } else {
      name = std::string(s.name);
      keep_ts = true;
    }
    std::vector<std::string> parts;
    for (const Label& l : s.labels) {
      if (!skip.empty() && l.name == skip) continue;
      parts.push_back(std::string(l.name) + "=" + Hex(l.value));
    }
    if (!extra_name.empty()) parts.push_back(extra_name + "=" + Num(extra));
    std::sort(parts.begin(), parts.end());
    std::string lbls;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i) lbls += ",";
      lbls += parts[i];
    }
    std::string ts = "-";
    if (keep_ts && s.timestamp_ms) ts = std::to_string(*s.timestamp_ms);
    rows.push_back("S\t" + family + "\t" + name + "\t" + lbls + "\t" + Num(value) + "\t" + ts);
  }
  std::vector<std::string> rows;
  std::map<std::string, std::string> families;
};

}  // namespace

Result<std::vector<std::string>> CanonicalRows(std::string_view body, Format format, Options options) {
  Parser parser(options);
  RowCollector c;
  auto r = parser.Parse(body, format, Selector::All(), c);
  if (!r.ok()) return r.status();
  std::vector<std::string> out = std::move(c.rows);
  for (const auto& [name, type] : c.families) out.push_back("F\t" + name + "\t" + type);
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace nimscaler::exposition::testing
