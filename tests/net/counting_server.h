#pragma once
// CountingServer: a minimal HTTP/1.1 keep-alive server on loopback ports (port 0) that counts
// the connections it accepts and records each request's Authorization header; every request
// gets a two-line exposition ("up 1", "x 2"). For tests of connection reuse.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace nimscaler::testing {

// Listens on `ports` loopback ports; one thread serves every connection with poll() (bounded
// by Stop()). Each request gets "ok" with keep-alive.
class CountingServer {
 public:
  struct Request {
    int port = 0;
    int connection = 0;         // the server's number for the connection it came on
    std::string authorization;  // the header's value, "" without one
  };

  explicit CountingServer(int ports) {
    for (int i = 0; i < ports; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) throw std::runtime_error("socket() failed");
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
        ::close(fd);
        throw std::runtime_error("bind/listen on 127.0.0.1:0 failed");
      }
      socklen_t len = sizeof addr;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
      listeners_.push_back({fd, ntohs(addr.sin_port)});
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~CountingServer() {
    stop_ = true;
    thread_.join();
    for (auto& c : conns_) ::close(c.fd);
    for (auto& l : listeners_) ::close(l.fd);
  }

  std::string url(int i, const std::string& query = "") const {
    return "http://127.0.0.1:" + std::to_string(listeners_[static_cast<size_t>(i)].port) + "/metrics" + query;
  }
  std::set<int> ports() const {
    std::set<int> out;
    for (const auto& l : listeners_) out.insert(l.port);
    return out;
  }
  int accepted() const { return accepted_.load(); }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  struct Listener {
    int fd;
    int port;
  };
  struct Conn {
    int fd;
    int port;
    int id;
    std::string in;
  };

  void Serve() {
    while (!stop_) {
      std::vector<pollfd> fds;
      for (const auto& l : listeners_) fds.push_back({l.fd, POLLIN, 0});
      for (const auto& c : conns_) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      for (size_t i = 0; i < listeners_.size(); ++i) {
        if ((fds[i].revents & POLLIN) == 0) continue;
        for (int n = 0; n < 256; ++n) {  // bounded accept burst
          int fd = ::accept4(listeners_[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (fd < 0) break;
          conns_.push_back({fd, listeners_[i].port, ++accepted_, ""});
        }
      }
      std::vector<int> closed;
      for (size_t k = listeners_.size(); k < fds.size(); ++k) {
        if (fds[k].revents == 0) continue;
        Conn& c = conns_[k - listeners_.size()];
        char buf[4096];
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) {
          closed.push_back(c.fd);
          continue;
        }
        c.in.append(buf, static_cast<size_t>(n));
        for (auto end = c.in.find("\r\n\r\n"); end != std::string::npos; end = c.in.find("\r\n\r\n")) {
          Record(c, c.in.substr(0, end));
          c.in.erase(0, end + 4);
          static const std::string kReply =
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 10\r\n\r\nup 1\nx 2\n\n";
          if (::send(c.fd, kReply.data(), kReply.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(kReply.size())) {
            closed.push_back(c.fd);
            break;
          }
        }
      }
      for (int fd : closed) {
        ::close(fd);
        std::erase_if(conns_, [fd](const Conn& c) { return c.fd == fd; });
      }
    }
  }

  void Record(const Conn& c, const std::string& head) {
    Request r{c.port, c.id, ""};
    std::istringstream lines(head);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string lower = line.substr(0, 14);
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (lower == "authorization:") r.authorization = line.substr(line.find(':') + 2);
    }
    std::lock_guard lock(mu_);
    requests_.push_back(r);
  }

  std::vector<Listener> listeners_;
  std::vector<Conn> conns_;  // server thread only
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace nimscaler::testing
