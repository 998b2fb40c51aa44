#pragma once
// HttpServer: a small embedded HTTP/1.1 server (civetweb) with exact-path and prefix
// routes. Used for the scaler's own HTTP port and by tests as a loopback fake pod.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "scaler/common/result.h"

namespace nimscaler::net {

struct HttpServerRequest {
  std::string method;
  std::string path;  ///< percent-decoded, exactly as sent (may hold any byte, NUL included)
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

/// Limits that keep slow or idle clients from holding the worker threads (civetweb gives each
/// connection a worker for as long as it is open).
struct HttpServerOptions {
  int threads = 4;
  /// The request line and headers must have arrived within this (a slowloris client is cut
  /// off); also the longest any one read or write may wait without progress.
  std::chrono::milliseconds request_timeout{2000};
  /// The body must have arrived within this after the headers, or the answer is 408 and the
  /// connection closes. Checked between one-byte reads, so the worst case is body_timeout +
  /// request_timeout.
  std::chrono::milliseconds body_timeout{2000};
  /// A kept-alive connection is closed when its next request has not fully arrived within this.
  std::chrono::milliseconds keep_alive_timeout{500};
  /// Larger bodies are refused with 413 (without reading them).
  size_t max_body_bytes = 64 * 1024;
  /// Accepted connections waiting for a free worker; further ones wait in the listen backlog.
  int connection_queue = 64;
  int listen_backlog = 128;
};

/// Owns the listening socket and worker threads. Routes must be added before Start().
/// Handlers run on civetweb's worker threads and must be thread-safe. An exception thrown by a
/// handler is caught, logged through the error log and answered with 500. Responses go out in
/// one write on a TCP_NODELAY socket (no Nagle / delayed-ACK stall on kept-alive connections).
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

  /// Where internal errors go (an exception from a handler); stderr by default. Set before Start().
  void SetErrorLog(std::function<void(const std::string&)> log);

  /// Binds `addr` ("host:port", ":port" for all interfaces; port 0 picks a free one).
  Status Start(const std::string& addr, const HttpServerOptions& options);
  /// Start() with default options but the number of worker threads.
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
