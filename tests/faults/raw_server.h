#pragma once
// RawServer: a loopback TCP server (127.0.0.1, port 0) for pods that misbehave below HTTP:
// accept and never answer, trickle bytes, send hand-made headers (gzip) or garbage. Each
// accepted connection runs `handler` on its own thread; every loop is bounded by Stop()
// (the destructor) and by explicit limits. Also ClosedPort(): a port that refuses connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace nimscaler::testing {

class RawServer {
 public:
  /// Called once per connection with the socket, the request head (up to the blank line) and
  /// the stop flag; the connection is closed when it returns.
  using Handler = std::function<void(int fd, const std::string& request, const std::atomic<bool>& stop)>;

  explicit RawServer(Handler handler, int max_connections = 64)
      : handler_(std::move(handler)), max_connections_(max_connections) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket() failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("bind/listen on 127.0.0.1:0 failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~RawServer() { Stop(); }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/v1/metrics") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_.load(); }
  std::string last_request() const {
    std::lock_guard lock(mu_);
    return last_request_;
  }

  void Stop() {
    if (stop_.exchange(true)) return;
    if (accept_thread_.joinable()) accept_thread_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mu_);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
    ::close(listen_fd_);
  }

  // ---- helpers for handlers (all bounded by `stop` and a deadline) ----

  /// Writes all of `data`; false when the peer went away or `stop` was set.
  static bool SendAll(int fd, std::string_view data, const std::atomic<bool>& stop) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!data.empty() && !stop.load() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return data.empty();
  }

  /// Keeps the connection open (reading and dropping anything sent) until the peer closes,
  /// `stop` is set, or `limit` passes.
  static void HoldOpen(int fd, const std::atomic<bool>& stop,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      if (::recv(fd, buf, sizeof buf, 0) <= 0) return;  // peer closed
    }
  }

  /// True once the peer has closed (or reset) the connection; waits up to `limit`.
  static bool PeerClosed(int fd, std::chrono::milliseconds limit) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    char c;
    return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
  }

 private:
  void AcceptLoop() {
    while (!stop_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      if (connections_.fetch_add(1) >= max_connections_) {  // bounded: refuse beyond the limit
        ::close(fd);
        continue;
      }
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] {
        std::string head = ReadHead(fd);
        {
          std::lock_guard l(mu_);
          last_request_ = head;
        }
        handler_(fd, head, stop_);
        ::close(fd);
      });
    }
  }

  // Reads the request up to the blank line (bounded: 64 KiB, 5 s, stop).
  std::string ReadHead(int fd) {
    std::string head;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < (64u << 10) && !stop_.load() &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    return head;
  }

  Handler handler_;
  const int max_connections_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;  // guards workers_, last_request_
  std::vector<std::thread> workers_;
  std::string last_request_;
  std::thread accept_thread_;
};

/// A loopback port that is bound but not listening: connecting to it is refused (RST) for as
/// long as this object lives, and no other test can take the port meanwhile.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("bind 127.0.0.1:0 failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  std::string url(const std::string& path = "/v1/metrics") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

/// "HTTP/1.1 200 OK" head with Content-Length and `extra` header lines ("Name: value\r\n").
inline std::string ResponseHead(size_t content_length, const std::string& extra = "",
                                const std::string& status = "200 OK") {
  return "HTTP/1.1 " + status + "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
         std::to_string(content_length) + "\r\nConnection: close\r\n" + extra + "\r\n";
}

}  // namespace nimscaler::testing
