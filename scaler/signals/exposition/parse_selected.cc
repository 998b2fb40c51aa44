// Exports ParseSelected() and SeriesValue::Label: the copying convenience layer over Parser,
// for tools and tests.
#include <algorithm>

#include "scaler/signals/exposition/parser.h"

namespace nimscaler::exposition {

std::string_view SeriesValue::Label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

namespace {

// Takes every sample: copies the wanted ones and lists each distinct name (family names from
// OnFamily, sample names as they change), so one pass answers both questions.
class SelectionCollector : public SampleVisitor {
 public:
  SelectionCollector(const std::vector<std::string>& wanted, Selection* out) : wanted_(wanted), out_(out) {}
  void OnFamily(const Family& f) override { names.emplace_back(f.name); }
  void OnSample(const Sample& s) override {
    if (s.name != last_name_) {
      last_name_.assign(s.name);
      names.push_back(last_name_);
      last_wanted_ = std::find(wanted_.begin(), wanted_.end(), s.name) != wanted_.end();
    }
    if (!last_wanted_) return;
    SeriesValue v;
    v.name = std::string(s.name);
    v.labels.reserve(s.labels.size());
    for (const exposition::Label& l : s.labels) v.labels.emplace_back(l.name, l.value);
    v.value = s.value;
    out_->series.push_back(std::move(v));
  }
  std::vector<std::string> names;

 private:
  const std::vector<std::string>& wanted_;
  Selection* out_;
  std::string last_name_;
  bool last_wanted_ = false;
};

}  // namespace

Result<Selection> ParseSelected(std::string_view body, std::string_view content_type,
                                const std::vector<std::string>& wanted) {
  const Format format = DetectFormat(content_type, body);
  Selection sel;
  SelectionCollector collector(wanted, &sel);
  Parser parser;
  auto r = parser.Parse(body, format, Selector::All(), collector);
  if (!r.ok()) return r.status();
  std::vector<std::string> names = std::move(collector.names);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  sel.families = std::move(names);
  return sel;
}

}  // namespace nimscaler::exposition
