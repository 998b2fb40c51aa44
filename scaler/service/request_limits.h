#pragma once
// What the gRPC port accepts and returns, bounded (issue 19 items 9, 10 and 13):
// - ScaledObject namespace and name must be what Kubernetes allows (checked before any lookup,
//   so a 3 MiB name never reaches the engine, the logs or /metrics);
// - error text sent to a caller is capped (one caller's huge metadata cannot make every answer
//   huge);
// - the metric value is finite and its int64 form is always defined.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nimscaler::service {

/// Kubernetes' limits on object names (DNS-1123).
inline constexpr size_t kMaxNamespaceLength = 63;  // a DNS-1123 label
inline constexpr size_t kMaxNameLength = 253;      // a DNS-1123 subdomain

/// Largest request message the gRPC port accepts (KEDA's are a few KiB).
inline constexpr int kMaxRequestBytes = 1 << 20;
/// Concurrent streams per HTTP/2 connection. KEDA shares one connection per scaler address
/// among all its ScaledObjects (one StreamIsActive each), so this is well above the number of
/// push triggers one operator is expected to have; the process-wide cap below is the real bound.
inline constexpr int kMaxStreamsPerConnection = 2000;
/// StreamIsActive streams open at once in the whole process (about 15 KiB each).
inline constexpr size_t kMaxActiveStreams = 5000;

/// Error text sent to callers is cut to this many bytes plus a "... (N bytes cut)" suffix.
inline constexpr size_t kMaxErrorTextBytes = 4096;

/// nullopt when `ns` is a DNS-1123 label; otherwise the INVALID_ARGUMENT text naming the field,
/// its length and the rule. Never echoes more than a short prefix of the value.
std::optional<std::string> CheckNamespace(std::string_view ns);
/// nullopt when `name` is a DNS-1123 subdomain; otherwise the INVALID_ARGUMENT text.
std::optional<std::string> CheckName(std::string_view name);

/// `text` unchanged when it fits in `limit` bytes; otherwise its first bytes (cut at a UTF-8
/// character boundary) and "... (N bytes cut)", the whole at most `limit` bytes.
std::string CapErrorText(std::string text, size_t limit = kMaxErrorTextBytes);

/// The value sent as metricValueFloat: finite and never negative (NaN -> 0, +Inf and anything
/// above kMaxMetricValue -> kMaxMetricValue).
inline constexpr double kMaxMetricValue = 9007199254740992.0;  // 2^53: exact as double and int64
double FiniteMetricValue(double v);
/// The value sent as metricValue (int64): ceil of FiniteMetricValue(v), always defined.
int64_t MetricValueInt(double v);

}  // namespace nimscaler::service
