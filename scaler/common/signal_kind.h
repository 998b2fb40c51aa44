#pragma once
// What a signal is, as its metric's # TYPE says: the one kind vocabulary shared by the formula
// (which functions a signal may go to), the sources (how a scrape is read) and the snapshot
// (what each pod served). The exposition format's own, wider type set stays in
// scaler/signals/exposition/types.h and is mapped onto this by the sources.

#include <cstdint>

namespace nimscaler {

enum class SignalKind : uint8_t {
  kUnknown,    ///< not known yet (a custom signal before its # TYPE is seen)
  kGauge,      ///< a per-pod level (kv_cache, waiting, running)
  kCounter,    ///< a per-pod monotonic total (requests, tokens): rate() reads it
  kHistogram,  ///< per-pod cumulative buckets (ttft, itl): quantile() reads it
};

/// "gauge", "counter", "histogram" or "unknown".
constexpr const char* SignalKindName(SignalKind kind) {
  switch (kind) {
    case SignalKind::kGauge: return "gauge";
    case SignalKind::kCounter: return "counter";
    case SignalKind::kHistogram: return "histogram";
    case SignalKind::kUnknown: break;
  }
  return "unknown";
}

}  // namespace nimscaler
