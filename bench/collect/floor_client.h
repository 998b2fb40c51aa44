#pragma once
// FloorClient: the least an HTTP/1.1 scraper can do, as a peer for the collection benchmark
// (issue 16: what a cycle of N endpoints must cost at minimum on this machine). One keep-alive
// connection per endpoint, kept across cycles; a cycle writes one fixed GET to every connection,
// then reads every response through one epoll set into one reused buffer per connection, judging
// only the status line and Content-Length. No TLS, no redirects, no chunked bodies, no headers
// beyond those, no timeouts but the cycle's own, no error recovery: it exists to be measured,
// not to scrape real pods. Loopback only (127.0.0.1).
#include <string>
#include <string_view>
#include <vector>

namespace nimscaler::bench {

class FloorClient {
 public:
  /// `ports`: one endpoint per port on 127.0.0.1; `path`: the request path.
  FloorClient(const std::vector<int>& ports, std::string path);
  ~FloorClient();
  FloorClient(const FloorClient&) = delete;
  FloorClient& operator=(const FloorClient&) = delete;

  /// Fetches every endpoint once, concurrently (connecting those not connected yet). Returns
  /// how many gave a 200 with a complete body; `on_body(i, body)` sees each such body, valid
  /// only during the call. Gives up after `timeout_ms` on what has not arrived.
  template <typename Fn>
  int Cycle(int timeout_ms, Fn&& on_body) {
    int ok = Run(timeout_ms);
    for (size_t i = 0; i < conns_.size(); ++i) {
      const Conn& c = conns_[i];
      if (c.done) on_body(i, std::string_view(c.buf.data() + c.body_at, c.body_len));
    }
    return ok;
  }

 private:
  struct Conn {
    int fd = -1;
    int port = 0;
    std::vector<char> buf;  // the response's bytes: [0, len); grown, never shrunk, never cleared
    size_t len = 0;
    size_t body_at = 0;   // where the body starts in buf, once the head is read
    size_t body_len = 0;  // Content-Length
    bool head = false;    // the head has been read
    bool done = false;    // a complete 200 response is in buf
  };
  int Run(int timeout_ms);
  bool Connect(Conn& c);
  bool ReadSome(Conn& c);  // false: the connection failed (closed, reset, not HTTP 200)

  std::vector<Conn> conns_;
  std::string request_;
  int epoll_fd_ = -1;
};

}  // namespace nimscaler::bench
