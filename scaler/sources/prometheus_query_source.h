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
  /// `address` may carry userinfo ("http://user:pw@prom:9090"): it is moved into basic-auth
  /// credentials and never appears in messages.
  PrometheusQuerySource(std::string address, std::string query, std::shared_ptr<net::HttpClient> http);
  /// `options` supplies the timeout, access policy and credentials (ScalerSpec::wake_http);
  /// the accept header is set here. Userinfo left in `address` is moved into the credentials
  /// as above. The three-argument form uses a 5 s timeout and no address policy.
  PrometheusQuerySource(std::string address, std::string query, std::shared_ptr<net::HttpClient> http,
                        net::HttpRequestOptions options);

  /// The query's value: a scalar, or the sum of a vector's samples (0 for an empty vector:
  /// no series means no demand). NaN samples are skipped. UNAVAILABLE on HTTP or PromQL errors;
  /// messages give the HTTP status and body size, never the body (only a Prometheus error
  /// document's own `error` text, shortened).
  Result<double> Evaluate() const;

  /// Pure part: a /api/v1/query response body -> value. Any bytes give a value or an error.
  static Result<double> Decode(std::string_view body);

  /// The query URL, without userinfo (for display).
  const std::string& url() const { return url_; }

 private:
  std::string url_;
  std::shared_ptr<net::HttpClient> http_;
  net::HttpRequestOptions options_;
};

}  // namespace nimscaler::sources
