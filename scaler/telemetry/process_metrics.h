#pragma once
// The process_* metrics every Prometheus client library exposes (memory, CPU, file
// descriptors, start time, threads), read from /proc/self when /metrics is served.

#include <optional>
#include <string>

namespace nimscaler::telemetry {

/// One reading of this process from /proc; a field is nullopt when it could not be read.
struct ProcessStats {
  std::optional<double> cpu_seconds;     ///< user + system CPU time
  std::optional<double> resident_bytes;  ///< RSS
  std::optional<double> virtual_bytes;
  std::optional<double> start_time_seconds;  ///< since the Unix epoch
  std::optional<double> open_fds;
  std::optional<double> max_fds;  ///< soft RLIMIT_NOFILE
  std::optional<double> threads;
};

/// Reads /proc/self/stat, /proc/stat (boot time), /proc/self/fd and the fd limit.
ProcessStats ReadProcessStats();

/// The Prometheus text exposition of `stats` (process_cpu_seconds_total, ...); fields that
/// could not be read are left out rather than reported as 0.
std::string ProcessMetricsText(const ProcessStats& stats);

}  // namespace nimscaler::telemetry
