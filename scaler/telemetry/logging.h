#pragma once
// Logging: one spdlog logger per module ("app", "engine", "service", "sources", "http"),
// all writing one line per event to stderr, as JSON or text. A line may carry structured
// fields (LogFields: namespace, scaledobject, trigger, pod, code) through Log().

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace nimscaler::telemetry {

/// Configures every logger. format: "json" (one JSON object per line: ts, level, logger, msg,
/// then the LogFields that are set; bytes that are not UTF-8 become U+FFFD, in fields too) |
/// "text" (the fields that are set follow the message as key=value); level:
/// trace|debug|info|warn|error, and lines name their level the same way. `sink`: where lines
/// go (tests); null keeps stderr. Call once at start-up before other threads log; later calls
/// replace the settings.
void SetupLogging(const std::string& format, const std::string& level, spdlog::sink_ptr sink = nullptr);

/// The logger of a module, created on first use. Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& module);

/// The context of one log line, for log pipelines to filter on. An empty field is left out.
/// Views only: nothing is copied unless the line is written, so the values must outlive the
/// Log() call and no more.
struct LogFields {
  std::string_view ns;            ///< "namespace": the ScaledObject's namespace
  std::string_view scaledobject;  ///< "scaledobject": the ScaledObject's name
  std::string_view trigger;       ///< "trigger": the metric name KEDA uses (as the metrics' label)
  std::string_view pod;           ///< "pod": the pod's name, or host:port; never URL userinfo
  std::string_view code;          ///< "code": a gRPC status code name, e.g. "INVALID_ARGUMENT"
};

/// The pod field for a scraped URL: its host[:port], without any userinfo ("user:pw@"). A
/// view into `url`; text that is not a URL is returned as it is (up to a '/').
std::string_view PodOfUrl(std::string_view url);

namespace detail {
/// The fields of the line being written on this thread (null when none); read by the formatters.
const LogFields* CurrentFields();
/// Makes `fields` the current fields of this thread for one log call.
class FieldsScope {
 public:
  explicit FieldsScope(const LogFields& fields);
  ~FieldsScope();
  FieldsScope(const FieldsScope&) = delete;
  FieldsScope& operator=(const FieldsScope&) = delete;

 private:
  const LogFields* previous_;
};
}  // namespace detail

/// Logs like logger.log(level, fmt, args...), with `fields`. When `level` is off this returns
/// at once: nothing is formatted, copied or allocated. Loggers are synchronous (the line is
/// formatted on the calling thread), which is what lets the fields travel beside the message.
template <typename... Args>
void Log(spdlog::logger& logger, spdlog::level::level_enum level, const LogFields& fields,
         spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!logger.should_log(level)) return;
  detail::FieldsScope scope(fields);
  logger.log(level, fmt, std::forward<Args>(args)...);
}

template <typename... Args>
void Log(const std::shared_ptr<spdlog::logger>& logger, spdlog::level::level_enum level, const LogFields& fields,
         spdlog::format_string_t<Args...> fmt, Args&&... args) {
  Log(*logger, level, fields, fmt, std::forward<Args>(args)...);
}

}  // namespace nimscaler::telemetry
