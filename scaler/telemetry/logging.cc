// Exports SetupLogging(), Logger(), PodOfUrl() and the per-thread fields behind Log();
// JsonFormatter writes every line as one JSON object, FieldsFlag the text form of the fields.
#include "scaler/telemetry/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace nimscaler::telemetry {
namespace {

// The fields of the Log() call running on this thread: set only for the duration of one
// synchronous logger.log(), so a formatter on this thread sees the fields of its own line.
thread_local const LogFields* tl_fields = nullptr;

// The fields that are set, as (key, value) in the order lines show them; calls fn for each.
template <typename Fn>
void ForEachField(const LogFields* f, Fn&& fn) {
  if (f == nullptr) return;
  if (!f->ns.empty()) fn("namespace", f->ns);
  if (!f->scaledobject.empty()) fn("scaledobject", f->scaledobject);
  if (!f->trigger.empty()) fn("trigger", f->trigger);
  if (!f->pod.empty()) fn("pod", f->pod);
  if (!f->code.empty()) fn("code", f->code);
}

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
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    nlohmann::ordered_json line;
    line["ts"] = ts;
    line["level"] = LevelName(msg.level);
    line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    // Fields are strings like msg and go through the same dump: quotes, newlines and NULs are
    // escaped, invalid UTF-8 becomes U+FFFD; one object per line whatever they hold.
    ForEachField(tl_fields, [&](const char* key, std::string_view value) { line[key] = std::string(value); });
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

// %~ in the text pattern: the fields that are set, as " key=value" each. A value with a space,
// quote, '=', backslash or control byte is quoted with C-style escapes, so a line stays one
// line and each pair stays readable and splittable.
void AppendTextValue(std::string_view v, spdlog::memory_buf_t& dest) {
  bool plain = true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) {
    dest.append(v);
    return;
  }
  dest.push_back('"');
  for (unsigned char c : v) {
    switch (c) {
      case '"': dest.append(std::string_view("\\\"")); break;
      case '\\': dest.append(std::string_view("\\\\")); break;
      case '\n': dest.append(std::string_view("\\n")); break;
      case '\r': dest.append(std::string_view("\\r")); break;
      case '\t': dest.append(std::string_view("\\t")); break;
      default:
        if (c < ' ' || c == 0x7f) {
          char hex[5];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          dest.append(std::string_view(hex, 4));
        } else {
          dest.push_back(static_cast<char>(c));
        }
    }
  }
  dest.push_back('"');
}

class FieldsFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    ForEachField(tl_fields, [&](const char* key, std::string_view value) {
      dest.push_back(' ');
      dest.append(std::string_view(key));
      dest.push_back('=');
      AppendTextValue(value, dest);
    });
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<FieldsFlag>(); }
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
    text->add_flag<LevelFlag>('*').add_flag<FieldsFlag>('~').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%*%$ [%n] %v%~");
    logger.set_formatter(std::move(text));
  }
}

}  // namespace

namespace detail {
const LogFields* CurrentFields() { return tl_fields; }
FieldsScope::FieldsScope(const LogFields& fields) : previous_(tl_fields) { tl_fields = &fields; }
FieldsScope::~FieldsScope() { tl_fields = previous_; }
}  // namespace detail

std::string_view PodOfUrl(std::string_view url) {
  if (size_t scheme = url.find("://"); scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (size_t at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  return url;
}

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
