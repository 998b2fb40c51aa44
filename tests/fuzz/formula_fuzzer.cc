// libFuzzer target for the formula compiler (lexer, parser, checker) and evaluator.
// Build and run with scripts/fuzz-formula.sh (clang, -fsanitize=fuzzer,address,undefined).
//
// Beyond "no crash, no UB, no leak", it checks the promises callers rely on:
//  - a failure is INVALID_ARGUMENT; a positioned one has exactly three lines, the first
//    starting "formula:" and the last ending "^ near here";
//  - a success dumps deterministically and evaluates to a finite number or NaN.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/formula/formula.h"

namespace {

using nimscaler::Code;
using nimscaler::formula::Bindings;
using nimscaler::formula::Compile;
using nimscaler::formula::Kind;
using nimscaler::formula::Options;
using nimscaler::formula::SignalInfo;

void Check(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "formula fuzzer: %s\ninput: %.*s\n", what, static_cast<int>(input.size()), input.data());
  std::abort();
}

// Values chosen from the input's bytes so evaluation reaches odd corners (NaN, 0, huge).
class ByteBindings : public Bindings {
 public:
  explicit ByteBindings(std::string_view input) {
    const double palette[] = {0, 1, -1, 0.5, 4, 1e308, -1e308, std::nan(""), 3, 1e-300};
    for (size_t i = 0; i < 6; ++i) {
      unsigned char c = i < input.size() ? static_cast<unsigned char>(input[i]) : 0;
      values_.push_back(palette[c % 10]);
    }
  }
  std::span<const double> Gauge(std::string_view signal) const override {
    size_t n = signal.size() % values_.size();
    return std::span<const double>(values_).first(n);
  }
  double Rate(std::string_view) const override { return values_[1]; }
  // Some inputs make every quantile an idle window (no observations), to walk the empty paths.
  nimscaler::formula::Windowed Quantile(double q, std::string_view) const override {
    return values_[5] == 0 ? nimscaler::formula::Windowed::Empty() : nimscaler::formula::Windowed::Of(q * values_[2]);
  }
  double Replicas() const override { return values_[3]; }
  double Pods() const override { return values_[4]; }

 private:
  std::vector<double> values_;
};

const std::vector<SignalInfo>& Signals() {
  static const auto* const kSignals = [] {
    auto* s = new std::vector<SignalInfo>(nimscaler::formula::BuiltinSignals());
    s->push_back({"backlog", Kind::kUnknown});
    s->push_back({"queue_depth", Kind::kGauge});
    return s;
  }();
  return *kSignals;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Options options;
  // Small limits sometimes, so the limit paths are exercised too.
  if (size > 0 && data[0] == '~') {
    options.max_depth = 8;
    options.max_identifiers = 4;
    options.max_length = 64;
  }
  auto program = Compile(text, Signals(), options);
  if (!program.ok()) {
    Check(program.status().code() == Code::kInvalidArgument, "failure is not INVALID_ARGUMENT", text);
    const std::string m = program.status().message();
    Check(m.rfind("formula:", 0) == 0, "message does not start with 'formula:'", text);
    size_t first = m.find('\n');
    Check(first != std::string::npos, "message has no formula line", text);
    size_t second = m.find('\n', first + 1);
    Check(second != std::string::npos && m.find('\n', second + 1) == std::string::npos, "message is not three lines",
          text);
    Check(m.size() >= 11 && m.compare(m.size() - 11, 11, "^ near here") == 0, "message does not end with the caret",
          text);
    return 0;
  }
  const auto& p = *program;
  std::string dump = p->Dump();
  Check(!dump.empty(), "empty dump", text);
  auto again = Compile(text, Signals(), options);
  Check(again.ok() && (*again)->Dump() == dump, "compiling twice differs", text);
  ByteBindings bindings(text);
  double v = p->Evaluate(bindings);
  Check(std::isfinite(v) || std::isnan(v), "evaluation is infinite", text);
  for (const auto& use : p->signals()) {
    Check(!use.name.empty() && use.kind != Kind::kUnknown, "bad signal use", text);
  }
  return 0;
}
