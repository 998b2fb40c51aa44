#pragma once
// Logging: one spdlog logger per module ("app", "engine", "service", "sources", "http"),
// all writing one line per event to stderr, as JSON or text.

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace nimscaler::telemetry {

/// Configures every logger. format: "json" (one JSON object per line: ts, level, logger, msg;
/// bytes that are not UTF-8 become U+FFFD) | "text"; level: trace|debug|info|warn|error, and
/// lines name their level the same way. `sink`: where lines go (tests); null keeps stderr.
/// Call once at start-up before other threads log; later calls replace the settings.
void SetupLogging(const std::string& format, const std::string& level, spdlog::sink_ptr sink = nullptr);

/// The logger of a module, created on first use. Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& module);

}  // namespace nimscaler::telemetry
