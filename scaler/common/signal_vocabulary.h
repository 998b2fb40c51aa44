#pragma once
// The signal vocabulary, one table for every module: the built-in signal names a formula may
// read, what kind each is (which functions it may go to, how a scrape is read), how one pod's
// series of it combine, whether the front door serves it, and which trigger key sets its
// per-replica target with what default. The formula (formula::BuiltinSignals, DefaultFormula),
// the trigger keys (trigger/trigger_metadata.cc), the engine and front-door presets
// (sources/) and the evaluator's shown values all read it. Where each engine serves a signal
// is the presets' business (sources/engine_preset.cc). The exposition format's own, wider type
// set stays in scaler/signals/exposition/types.h and is mapped onto SignalKind by the sources.

#include <cstdint>
#include <string_view>

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

/// How several series of one pod that match a signal are combined into one value.
enum class Combine : uint8_t {
  kSum,      ///< counts (requests, tokens): every series is a share of the pod's total
  kAverage,  ///< fractions (KV use per rank or engine): summing would exceed 1
  kMax,      ///< counts repeated per rank (SGLang tensor-parallel ranks report the same queue)
};

/// How a built-in signal's per-replica target enters the default formula (docs/formula.md
/// "The formula").
enum class TargetUse : uint8_t {
  kNone,     ///< it has no target key
  kLevel,    ///< sum(signal)/target: the target is what one replica should carry
  kLatency,  ///< replicas*quantile(q, signal)/target: the target is a latency in seconds
  kRate,     ///< rate(signal)/target: the target is what one replica should serve per second
};

// The built-in names, for code that names one signal.
inline constexpr const char* kKvCache = "kv_cache";
inline constexpr const char* kWaiting = "waiting";
inline constexpr const char* kRunning = "running";
inline constexpr const char* kTtft = "ttft";
inline constexpr const char* kItl = "itl";
inline constexpr const char* kE2e = "e2e";
inline constexpr const char* kQueueTime = "queue_time";
inline constexpr const char* kPromptTokens = "prompt_tokens";
inline constexpr const char* kGenerationTokens = "generation_tokens";
inline constexpr const char* kRequests = "requests";
/// Requests a front door (KEDA's HTTP add-on, the inference gateway's endpoint picker...)
/// holds for the model, and requests it has in flight to it; read from the front door's own
/// metrics, not from the pods (docs/front-doors.md).
inline constexpr const char* kFrontDoorWaiting = "frontdoor_waiting";
inline constexpr const char* kFrontDoorInflight = "frontdoor_inflight";

struct BuiltinSignal {
  std::string_view name;
  SignalKind kind;
  /// How one pod's series combine when nothing more specific says so (an engine preset may:
  /// SGLang repeats its queue per rank, so its `waiting` takes the largest).
  Combine combine;
  bool front_door;  ///< read from the front door, not from the pods
  TargetUse target_use;
  std::string_view target_key;  ///< the trigger key of its per-replica target; empty when none
  /// The target the default formula uses when a trigger sets neither a target nor a formula;
  /// 0 when the signal is not part of that default.
  double default_target;
};

/// Every built-in signal. The order is the order of the default formula's terms.
inline constexpr BuiltinSignal kBuiltinSignals[] = {
    {kKvCache, SignalKind::kGauge, Combine::kAverage, false, TargetUse::kLevel, "targetKvCache", 0.8},
    {kWaiting, SignalKind::kGauge, Combine::kSum, false, TargetUse::kLevel, "targetWaiting", 4},
    {kRunning, SignalKind::kGauge, Combine::kSum, false, TargetUse::kLevel, "targetRunning", 0},
    {kTtft, SignalKind::kHistogram, Combine::kSum, false, TargetUse::kLatency, "targetTtft", 0},
    {kItl, SignalKind::kHistogram, Combine::kSum, false, TargetUse::kLatency, "targetItl", 0},
    {kE2e, SignalKind::kHistogram, Combine::kSum, false, TargetUse::kLatency, "targetE2e", 0},
    {kQueueTime, SignalKind::kHistogram, Combine::kSum, false, TargetUse::kNone, "", 0},
    {kPromptTokens, SignalKind::kCounter, Combine::kSum, false, TargetUse::kNone, "", 0},
    {kGenerationTokens, SignalKind::kCounter, Combine::kSum, false, TargetUse::kNone, "", 0},
    {kRequests, SignalKind::kCounter, Combine::kSum, false, TargetUse::kRate, "targetRequestRate", 0},
    {kFrontDoorWaiting, SignalKind::kGauge, Combine::kSum, true, TargetUse::kNone, "", 0},
    {kFrontDoorInflight, SignalKind::kGauge, Combine::kSum, true, TargetUse::kNone, "", 0},
};

/// The row of built-in signal `name`, or nullptr for a custom signal.
constexpr const BuiltinSignal* FindBuiltinSignal(std::string_view name) {
  for (const BuiltinSignal& s : kBuiltinSignals) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

/// Whether `signal` is read from the front door rather than from the pods: the built-in
/// front-door signals and any custom signal named frontdoor_* (docs/front-doors.md).
constexpr bool IsFrontDoorSignal(std::string_view signal) { return signal.substr(0, 10) == "frontdoor_"; }

}  // namespace nimscaler
