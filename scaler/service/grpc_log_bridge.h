#pragma once
// gRPC's own log lines (gpr_log: "E1206 12:00:00 ... chttp2_server.cc:...") go to the "grpc"
// spdlog logger, so --log-format json gives one JSON object per line for them too.

namespace nimscaler::service {

/// Routes gRPC's logging into spdlog. Call once, after telemetry::SetupLogging and before the
/// first gRPC object is created; later calls change nothing.
void RouteGrpcLogsToSpdlog();

}  // namespace nimscaler::service
