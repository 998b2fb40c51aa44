// collect_server: one process serving a fixed metrics body on N loopback ports, for the
// collection benchmark (1,000 pods without 1,000 processes). Single-threaded epoll over N
// listening sockets; HTTP/1.1 keep-alive; every request on every port gets the same
// response. Prints the ports, comma-separated, on one stdout line once all are listening;
// exits when stdin reaches EOF (the parent is done or gone) or on SIGTERM/SIGINT. On SIGUSR1
// it prints "accepted <total connections accepted so far>" on stdout (to count reconnects).
// --delay-ms D answers each request D ms after it arrives (a pod's response time), without
// blocking the other connections.
//
//   collect_server --ports 1000 --body tests/testdata/engines/nim-....prom [--delay-ms 0]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_report = 0;
void OnSignal(int) { g_stop = 1; }
void OnReport(int) { g_report = 1; }

struct Conn {
  uint64_t id = 0;  // distinguishes a connection from a later one that reuses its fd
  std::string in;   // bytes of requests not yet answered
  std::string out;  // response bytes not yet written
  size_t out_off = 0;
};

int Listen() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int PortOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace

int main(int argc, char** argv) {
  int nports = 1000;
  int delay_ms = 0;
  std::string body_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--ports")
      nports = std::atoi(argv[i + 1]);
    else if (k == "--body")
      body_file = argv[i + 1];
    else if (k == "--delay-ms")
      delay_ms = std::atoi(argv[i + 1]);
  }
  if (nports <= 0 || nports > 20000 || body_file.empty() || delay_ms < 0 || delay_ms > 10000) {
    std::fprintf(stderr, "usage: collect_server --ports N (1..20000) --body FILE [--delay-ms 0..10000]\n");
    return 2;
  }
  std::ifstream in(body_file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "collect_server: cannot read %s\n", body_file.c_str());
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string body = ss.str();
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\nKeep-Alive: timeout=120\r\n\r\n" + body;

  // N listening sockets + N connections + a few: raise the soft limit to the hard one.
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(2 * nports + 16)) {
    std::fprintf(stderr, "collect_server: file-descriptor limit %llu is below the %d needed (ulimit -Hn)\n",
                 static_cast<unsigned long long>(rl.rlim_cur), 2 * nports + 16);
    return 2;
  }

  ::signal(SIGTERM, OnSignal);
  ::signal(SIGINT, OnSignal);
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnReport;  // no SA_RESTART: the signal ends epoll_wait at once
  ::sigaction(SIGUSR1, &sa, nullptr);
  unsigned long long accepted = 0;
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> listeners;
  std::string ports;
  for (int i = 0; i < nports; ++i) {
    int fd = Listen();
    if (fd < 0) {
      std::fprintf(stderr, "collect_server: listen failed after %d ports: %s\n", i, std::strerror(errno));
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = (1ull << 32) | static_cast<uint32_t>(fd);  // high bit: a listener
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    listeners.push_back(fd);
    ports += (i ? "," : "") + std::to_string(PortOf(fd));
  }
  {  // stdin: EOF means stop
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = (2ull << 32);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  }
  std::printf("%s\n", ports.c_str());
  std::fflush(stdout);

  using Steady = std::chrono::steady_clock;
  struct Due {
    Steady::time_point at;
    int fd;
    uint64_t id;
  };
  std::deque<Due> pending;  // delayed answers, in arrival order (the delay is constant)
  uint64_t next_id = 1;
  std::unordered_map<int, Conn> conns;
  std::vector<epoll_event> events(1024);
  char buf[16384];
  auto close_conn = [&](int fd) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
  };
  // Writes what is pending; arms EPOLLOUT only while something is left.
  auto flush = [&](int fd, Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return false;
    }
    epoll_event ev{};
    ev.data.u64 = static_cast<uint32_t>(fd);
    ev.events = EPOLLIN | (c.out_off < c.out.size() ? EPOLLOUT : 0u);
    ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
    }
    return true;
  };

  while (!g_stop) {
    int wait_ms = 500;
    if (!pending.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(pending.front().at - Steady::now()).count();
      wait_ms = static_cast<int>(std::max<long long>(0, std::min<long long>(left + 1, 500)));
    }
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), wait_ms);
    if (g_report) {
      g_report = 0;
      std::printf("accepted %llu\n", accepted);
      std::fflush(stdout);
    }
    for (int i = 0; i < n && !g_stop; ++i) {
      uint64_t tag = events[i].data.u64 >> 32;
      int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      if (tag == 2) {  // stdin readable: EOF ends the server
        if (::read(0, buf, sizeof buf) <= 0) g_stop = 1;
        continue;
      }
      if (tag == 1) {
        for (int k = 0; k < 64; ++k) {  // bounded accept burst per wake-up
          int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          ++accepted;
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = static_cast<uint32_t>(c);
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
          Conn conn;
          conn.id = next_id++;
          conns.emplace(c, std::move(conn));
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool alive = true;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          alive = false;
        } else if (r > 0) {
          c.in.append(buf, static_cast<size_t>(r));
          if (c.in.size() > (64u << 10)) alive = false;  // no request is that big: drop the client
          size_t end;
          while (alive && (end = c.in.find("\r\n\r\n")) != std::string::npos) {  // one response per request
            c.in.erase(0, end + 4);
            if (delay_ms == 0)
              c.out += response;
            else
              pending.push_back({Steady::now() + std::chrono::milliseconds(delay_ms), fd, c.id});
          }
        }
      }
      if (alive) alive = flush(fd, c);
      if (!alive) close_conn(fd);
    }
    for (auto now = Steady::now(); !pending.empty() && pending.front().at <= now;) {  // answers now due
      Due d = pending.front();
      pending.pop_front();
      auto it = conns.find(d.fd);
      if (it == conns.end() || it->second.id != d.id) continue;  // that client has gone
      it->second.out += response;
      if (!flush(d.fd, it->second)) close_conn(d.fd);
    }
  }
  for (auto& [fd, c] : conns) ::close(fd);
  for (int fd : listeners) ::close(fd);
  ::close(ep);
  return 0;
}
