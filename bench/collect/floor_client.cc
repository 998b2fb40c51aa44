// Exports bench::FloorClient (floor_client.h): the minimal epoll HTTP/1.1 keep-alive scraper the
// collection benchmark measures nim-scaler's scrape against.
#include "bench/collect/floor_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>

namespace nimscaler::bench {

FloorClient::FloorClient(const std::vector<int>& ports, std::string path)
    : request_("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n") {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  conns_.resize(ports.size());
  for (size_t i = 0; i < ports.size(); ++i) conns_[i].port = ports[i];
}

FloorClient::~FloorClient() {
  for (auto& c : conns_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

// Blocking connect (loopback: immediate), then non-blocking from here on.
bool FloorClient::Connect(Conn& c) {
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(c.port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(c.fd);
    c.fd = -1;
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &c;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev);
  return true;
}

bool FloorClient::ReadSome(Conn& c) {
  for (;;) {
    // Before the head: whatever room the buffer has (at least 16 KiB; after the first cycle it
    // is the size of the last response). After it: exactly the rest of the body.
    size_t want = c.head ? c.body_at + c.body_len - c.len : std::max<size_t>(c.buf.size() - c.len, 16u << 10);
    if (c.buf.size() < c.len + want) c.buf.resize(c.len + want);
    ssize_t n = ::recv(c.fd, c.buf.data() + c.len, want, MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c.len += static_cast<size_t>(n);
    if (!c.head) {
      std::string_view got(c.buf.data(), c.len);
      size_t end = got.find("\r\n\r\n");
      if (end == std::string_view::npos) continue;
      if (got.substr(0, 12) != "HTTP/1.1 200") return false;
      // collect_server spells it so; a floor need not read other spellings.
      size_t cl = got.substr(0, end + 2).find("\r\nContent-Length:");
      if (cl == std::string_view::npos) return false;
      c.body_len = std::strtoul(c.buf.data() + cl + 17, nullptr, 10);  // stops at the '\r' of its line
      c.body_at = end + 4;
      c.head = true;
    }
    if (c.len >= c.body_at + c.body_len) {
      c.done = c.len == c.body_at + c.body_len;  // more bytes than the response: not HTTP as we sent it
      return c.done;
    }
  }
}

int FloorClient::Run(int timeout_ms) {
  int pending = 0;
  for (auto& c : conns_) {
    c.len = 0;
    c.head = c.done = false;
    c.body_at = c.body_len = 0;
    if (c.fd < 0 && !Connect(c)) continue;
    if (::send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request_.size())) {
      ::close(c.fd);  // closing removes it from the epoll set
      c.fd = -1;
      continue;
    }
    ++pending;
  }
  int ok = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  epoll_event events[256];
  while (pending > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int n = ::epoll_wait(epoll_fd_, events, 256, static_cast<int>(left.count()));
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[i].data.ptr);
      if (c.done || c.fd < 0) continue;
      if (!ReadSome(c)) {
        ::close(c.fd);
        c.fd = -1;
        --pending;
        continue;
      }
      if (c.done) {
        ++ok;
        --pending;
      }
    }
  }
  for (auto& c : conns_) {
    if (c.fd >= 0 && !c.done) {  // late bytes would be read as the next cycle's response
      ::close(c.fd);
      c.fd = -1;
    }
  }
  return ok;
}

}  // namespace nimscaler::bench
