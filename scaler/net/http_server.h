#pragma once
// HttpServer: a small embedded HTTP/1.1 server (civetweb) with exact-path and prefix
// routes. Used for the scaler's own HTTP port and by tests as a loopback fake pod.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "scaler/common/result.h"

namespace nimscaler::net {

struct HttpServerRequest {
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  std::map<std::string, std::string> headers;  ///< names lower-cased
};

struct HttpServerResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpServerResponse(const HttpServerRequest&)>;

/// Writes a chunked response piece by piece (long-lived streams such as a watch).
class HttpStreamWriter {
 public:
  virtual ~HttpStreamWriter() = default;
  /// Sends the status line and headers; call once before Write().
  virtual void Start(int status, const std::string& content_type) = 0;
  /// Sends one chunk; false when the client has gone away.
  virtual bool Write(std::string_view data) = 0;
};
using HttpStreamHandler = std::function<void(const HttpServerRequest&, HttpStreamWriter&)>;

/// Owns the listening socket and worker threads. Routes must be added before Start().
/// Handlers run on civetweb's worker threads and must be thread-safe.
class HttpServer {
 public:
  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Exact path match, or prefix match when `path` ends in '/'.
  void Route(const std::string& path, HttpHandler handler);
  /// Like Route(), for handlers that stream their response (they own the worker thread
  /// until they return).
  void RouteStream(const std::string& path, HttpStreamHandler handler);

  /// Binds `addr` ("host:port", ":port" for all interfaces; port 0 picks a free one).
  Status Start(const std::string& addr, int threads = 4);
  /// The bound port, after a successful Start().
  int port() const { return port_; }
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace nimscaler::net
