#pragma once
// HttpClient: the seam between collection and the network. The real implementation is
// CurlHttpClient; tests use a loopback HttpServer or a fake.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "scaler/common/result.h"

namespace nimscaler::net {

struct HttpRequestOptions {
  std::chrono::milliseconds timeout{2000};
  size_t max_body_bytes = 16u << 20;  ///< product.md §5: 16 MiB default
  std::string accept =
      "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.9,*/*;q=0.1";
};

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;
};

/// Performs HTTP GETs. Implementations are thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Transport failures (refused, timeout, body over the cap) are UNAVAILABLE with the cause.
  /// Any HTTP status is a successful transport: callers judge the status code.
  virtual Result<HttpResponse> Get(const std::string& url, const HttpRequestOptions& options) = 0;
};

/// The libcurl implementation (keep-alive per calling thread, gzip accepted).
std::unique_ptr<HttpClient> MakeCurlHttpClient();

}  // namespace nimscaler::net
