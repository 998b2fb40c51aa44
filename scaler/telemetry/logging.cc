// Exports SetupLogging() and Logger(); JsonFormatter writes every line as one JSON object.
#include "scaler/telemetry/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace nimscaler::telemetry {
namespace {

// Level names as --log-level spells them ("warn", not spdlog's "warning").
std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// One JSON object per line, written by nlohmann_json: bytes that are not valid UTF-8 (a pod's
// label, a peer's error text) become U+FFFD instead of breaking the line for log shippers.
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
    nlohmann::ordered_json line;
    line["ts"] = ts;
    line["level"] = LevelName(msg.level);
    line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(std::string_view(text));
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// %L in the text pattern: the level as the flag spells it.
class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    dest.append(LevelName(msg.level));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<LevelFlag>(); }
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
    auto text = std::make_unique<spdlog::pattern_formatter>();
    text->add_flag<LevelFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%*%$ [%n] %v");
    logger.set_formatter(std::move(text));
  }
}

}  // namespace

void SetupLogging(const std::string& format, const std::string& level, spdlog::sink_ptr sink) {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  s.format = format;
  s.level = spdlog::level::from_str(level);
  if (sink) s.sink = std::move(sink);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
    l->sinks().assign(1, s.sink);
    Apply(*l, s);
  });
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
