#pragma once
// FakePod: a loopback HTTP server (port 0) serving a model server's metrics text that a
// test can change at any time, or make fail. Thread-safe.

#include <mutex>
#include <string>

#include "scaler/net/http_server.h"

namespace nimscaler::testing {

class FakePod {
 public:
  explicit FakePod(std::string body, std::string path = "/v1/metrics") : body_(std::move(body)) {
    server_.Route(path, [this](const net::HttpServerRequest&) {
      std::lock_guard lock(mu_);
      ++requests_;
      if (status_ != 200) return net::HttpServerResponse{status_, "text/plain", "injected failure\n"};
      return net::HttpServerResponse{200, "text/plain; version=0.0.4; charset=utf-8", body_};
    });
    Status s = server_.Start("127.0.0.1:0", 2);
    if (!s.ok()) throw std::runtime_error(s.message());
    url_ = "http://127.0.0.1:" + std::to_string(server_.port()) + path;
  }

  const std::string& url() const { return url_; }
  void SetBody(std::string body) {
    std::lock_guard lock(mu_);
    body_ = std::move(body);
  }
  void SetStatus(int status) {
    std::lock_guard lock(mu_);
    status_ = status;
  }
  int requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  void Stop() { server_.Stop(); }

 private:
  mutable std::mutex mu_;
  std::string body_;
  int status_ = 200;
  int requests_ = 0;
  std::string url_;
  net::HttpServer server_;
};

}  // namespace nimscaler::testing
