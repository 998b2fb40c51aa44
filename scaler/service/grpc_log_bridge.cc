// Exports RouteGrpcLogsToSpdlog (see grpc_log_bridge.h).
#include "scaler/service/grpc_log_bridge.h"

#include <grpc/support/log.h>

#include <mutex>
#include <string>

#include "scaler/telemetry/logging.h"

namespace nimscaler::service {
namespace {

void ToSpdlog(gpr_log_func_args* args) {
  static const auto log = telemetry::Logger("grpc");
  spdlog::level::level_enum level = args->severity == GPR_LOG_SEVERITY_ERROR  ? spdlog::level::err
                                    : args->severity == GPR_LOG_SEVERITY_INFO ? spdlog::level::info
                                                                              : spdlog::level::debug;
  // The file and line say which part of gRPC spoke; the path up to "src/" is the build's.
  std::string file = args->file ? args->file : "?";
  if (size_t src = file.rfind("src/"); src != std::string::npos) file = file.substr(src);
  log->log(level, "{} ({}:{})", args->message ? args->message : "", file, args->line);
}

}  // namespace

void RouteGrpcLogsToSpdlog() {
  static std::once_flag once;
  std::call_once(once, [] { gpr_set_log_function(ToSpdlog); });
}

}  // namespace nimscaler::service
