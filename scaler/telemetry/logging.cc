// Exports SetupLogging() and Logger(); JsonFormatter escapes messages so every line is JSON.
#include "scaler/telemetry/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <ctime>
#include <mutex>

namespace nimscaler::telemetry {
namespace {

void AppendJsonString(std::string_view s, spdlog::memory_buf_t& out) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out.append(std::string_view("\\\"")); break;
      case '\\': out.append(std::string_view("\\\\")); break;
      case '\n': out.append(std::string_view("\\n")); break;
      case '\r': out.append(std::string_view("\\r")); break;
      case '\t': out.append(std::string_view("\\t")); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out.append(std::string_view(buf));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto t = std::chrono::system_clock::to_time_t(msg.time);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[64];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    dest.append(std::string_view("{\"ts\":\""));
    dest.append(std::string_view(ts));
    dest.append(std::string_view("\",\"level\":"));
    auto lvl = spdlog::level::to_string_view(msg.level);
    AppendJsonString(std::string_view(lvl.data(), lvl.size()), dest);
    dest.append(std::string_view(",\"logger\":"));
    AppendJsonString(std::string_view(msg.logger_name.data(), msg.logger_name.size()), dest);
    dest.append(std::string_view(",\"msg\":"));
    AppendJsonString(std::string_view(msg.payload.data(), msg.payload.size()), dest);
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

struct State {
  std::mutex mu;
  std::string format = "text";
  spdlog::level::level_enum level = spdlog::level::info;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
};

State& GetState() {
  static State* s = new State();  // never destroyed: loggers may log during exit
  return *s;
}

void Apply(spdlog::logger& logger, const State& s) {
  logger.set_level(s.level);
  if (s.format == "json") {
    logger.set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger.set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v"));
  }
}

}  // namespace

void SetupLogging(const std::string& format, const std::string& level) {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  s.format = format;
  s.level = spdlog::level::from_str(level);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { Apply(*l, s); });
}

std::shared_ptr<spdlog::logger> Logger(const std::string& module) {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  if (auto existing = spdlog::get(module)) return existing;
  auto logger = std::make_shared<spdlog::logger>(module, s.sink);
  Apply(*logger, s);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace nimscaler::telemetry
