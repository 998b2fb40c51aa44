#pragma once
// Signals the formula tests compile against: the builtins plus two custom ones.

#include <vector>

#include "scaler/formula/formula.h"

namespace nimscaler::formula::testing {

inline std::vector<SignalInfo> TestSignals() {
  std::vector<SignalInfo> signals = BuiltinSignals();
  signals.push_back({"backlog", Kind::kUnknown});    // custom, # TYPE not seen yet
  signals.push_back({"queue_depth", Kind::kGauge});  // custom gauge
  signals.push_back({"jobs", Kind::kUnknown});
  return signals;
}

}  // namespace nimscaler::formula::testing
