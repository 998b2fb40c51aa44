#pragma once
// PrometheusQuerySource: evaluates a PromQL instant query (`wakeQuery`) against a Prometheus
// server (`prometheusAddress`), for demand that is visible outside the pods (a gateway's
// request counter) while the model is at zero.

#include <memory>
#include <string>

#include "scaler/common/result.h"
#include "scaler/net/http_client.h"

namespace nimscaler::sources {

/// Thread-safe.
class PrometheusQuerySource {
 public:
  PrometheusQuerySource(std::string address, std::string query, std::shared_ptr<net::HttpClient> http);

  /// The query's value: a scalar, or the sum of a vector's samples (0 for an empty vector:
  /// no series means no demand). NaN samples are skipped. UNAVAILABLE on HTTP or PromQL errors.
  Result<double> Evaluate() const;

  /// Pure part: a /api/v1/query response body -> value.
  static Result<double> Decode(std::string_view body);

 private:
  std::string url_;
  std::shared_ptr<net::HttpClient> http_;
};

}  // namespace nimscaler::sources
