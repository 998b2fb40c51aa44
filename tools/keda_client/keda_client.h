#pragma once
// KedaClient: KEDA's side of the external scaler contract (proto/externalscaler.proto), as the
// demo (tools/demo/) and the HA benchmark (bench/ha/) call a nim-scaler: the three calls of one
// KEDA poll, the single calls with a deadline, and a StreamIsActive reader. Blocking calls on one
// channel; thread-safe. (bench/grpc/keda_load keeps its own stubs on purpose: it speaks KEDA's
// Proto@HEAD copy from tests/conformance/proto, independent of ours.)

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "externalscaler.grpc.pb.h"

namespace nimscaler::keda {

using Metadata = std::map<std::string, std::string>;

/// The reference KEDA sends for a ScaledObject's trigger.
externalscaler::ScaledObjectRef Ref(const std::string& ns, const std::string& name, const Metadata& metadata);

class KedaClient {
 public:
  /// Plain-text channel to `address` ("127.0.0.1:9090").
  explicit KedaClient(const std::string& address);
  ~KedaClient();
  KedaClient(const KedaClient&) = delete;
  KedaClient& operator=(const KedaClient&) = delete;

  grpc::Status GetMetricSpec(const externalscaler::ScaledObjectRef& ref, externalscaler::GetMetricSpecResponse* out,
                             std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// `metric_name` as GetMetricSpec named it; the value (metricValueFloat, else metricValue).
  grpc::Status GetMetrics(const externalscaler::ScaledObjectRef& ref, const std::string& metric_name, double* value,
                          std::chrono::milliseconds deadline = std::chrono::seconds(5));
  grpc::Status IsActive(const externalscaler::ScaledObjectRef& ref, bool* active,
                        std::chrono::milliseconds deadline = std::chrono::seconds(5));

  struct Poll {
    bool ok = false;
    std::string error;  ///< the call that failed and why
    double value = 0;
    bool active = false;
  };
  /// What KEDA does on every poll and every HPA query: GetMetricSpec, GetMetrics, IsActive,
  /// each with `deadline`.
  Poll Query(const externalscaler::ScaledObjectRef& ref, std::chrono::milliseconds deadline = std::chrono::seconds(3));

  /// StreamIsActive on a reader thread (one stream at a time: opening closes the previous one);
  /// each message is queued for TakePushes().
  void OpenStream(const externalscaler::ScaledObjectRef& ref);
  void CloseStream();
  std::vector<bool> TakePushes();

 private:
  std::unique_ptr<externalscaler::ExternalScaler::Stub> stub_;
  std::mutex mu_;
  std::unique_ptr<grpc::ClientContext> stream_ctx_;
  std::thread stream_thread_;
  std::vector<bool> pushes_;
};

}  // namespace nimscaler::keda
