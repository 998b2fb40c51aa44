// libFuzzer target for the exposition parser. Each input is parsed as both formats, in both
// strictness modes, with everything selected, with a selective selector, and with the fast
// skip of unselected lines; every view handed out must point into the body or the parser's
// scratch, and ParseSelected must agree with the core on success. Built with
// clang -fsanitize=fuzzer,address,undefined by scripts/run-fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "scaler/signals/exposition/parser.h"

namespace {

using namespace nimscaler::exposition;

class Checker : public SampleVisitor {
 public:
  explicit Checker(std::string_view body) : body_(body) {}
  void OnFamily(const Family& f) override {
    Touch(f.name);
    Touch(f.help_raw);
  }
  void OnSample(const Sample& s) override {
    ++samples;
    Touch(s.name);
    Touch(s.family);
    if (!InBody(s.series)) std::abort();
    for (const Label& l : s.labels) {
      Touch(l.name);
      Touch(l.value);
    }
    if (s.exemplar != nullptr) {
      for (const Label& l : s.exemplar->labels) Touch(l.value);
    }
  }
  size_t samples = 0;

 private:
  bool InBody(std::string_view v) const {
    return v.empty() || (v.data() >= body_.data() && v.data() + v.size() <= body_.data() + body_.size());
  }
  // Reading every byte lets ASan catch a dangling view.
  void Touch(std::string_view v) {
    for (char c : v) sink_ += static_cast<unsigned char>(c);
  }
  std::string_view body_;
  size_t sink_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  Selector some;
  some.AddFamily("a").AddSample("b_bucket").AddFamily("c", {{"le", "+Inf"}});
  for (Format f : {Format::kPrometheusText, Format::kOpenMetrics}) {
    for (Strictness st : {Strictness::kPrometheus, Strictness::kSpec}) {
      Options o;
      o.strictness = st;
      Checker all(body);
      Parser p(o);
      auto r = p.Parse(body, f, Selector::All(), all);
      if (r.ok() && r->selected_samples != all.samples) std::abort();
      if (r.ok() && r->samples != all.samples) std::abort();
      if (!r.ok() && p.error().line == 0 && size > 0) std::abort();
      Checker sel(body);
      auto r2 = p.Parse(body, f, some, sel);
      if (r.ok() != r2.ok()) std::abort();  // selection never changes the verdict
      o.validate_unselected = false;
      o.error_policy = ErrorPolicy::kSkipLine;
      Checker fast(body);
      (void)Parser(o).Parse(body, f, some, fast);
    }
  }
  auto s = ParseSelected(body, "", {"a", "b"});
  (void)s;
  return 0;
}
