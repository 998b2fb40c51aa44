// The libcurl client's shared connection cache (issue 16 item 2): one cache for every GetAll()
// caller, a bounded number of idle keep-alive connections (least recently used closed first),
// reuse across cycles and across calling threads, and per-request credentials on a reused
// connection. A real HTTP/1.1 keep-alive server on 127.0.0.1 (port 0, many ports), counting
// the connections it accepts and recording each request's Authorization header.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "scaler/net/http_client.h"

namespace nimscaler::net {
namespace {

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

// This process's ESTABLISHED TCP connections whose remote end is one of `ports` on 127.0.0.1:
// the client side of the connections to the server (the server's side has them as local
// ports), i.e. the connections the client holds open right now. /proc/net/tcp lists the whole
// network namespace, so only sockets among this process's descriptors count (another test
// process may probe a port number that this server happens to hold).
int ClientConnections(const std::set<int>& ports) {
  std::set<std::string> own;  // socket inodes of this process
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code ec2;
    std::string target = std::filesystem::read_symlink(e.path(), ec2).string();
    if (!ec2 && target.rfind("socket:[", 0) == 0) own.insert(target.substr(8, target.size() - 9));
  }
  std::ifstream in("/proc/self/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    f >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (state != "01" || remote.size() < 13 || own.count(inode) == 0) continue;
    if (remote.substr(0, 8) != "0100007F") continue;
    int port = std::stoi(remote.substr(9), nullptr, 16);
    if (ports.count(port) > 0) ++n;
  }
  return n;
}

std::string TokenFile(const std::string& name, const std::string& token) {
  std::string path = ::testing::TempDir() + "/connection_cache_" + name + "_" + std::to_string(::getpid());
  std::ofstream(path) << token << "\n";
  return path;
}

void ExpectAllOk(const std::vector<Result<HttpResponse>>& got) {
  for (const auto& r : got) {
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
  }
}

// issue 16 item 2: with 20 endpoints and a cap of 4, at most 4 idle connections stay open
// after each cycle (the old client kept one per endpoint per pool: 20).
TEST(ConnectionCache, IdleConnectionsNeverExceedTheCap) {
  CountingServer server(20);
  auto http = MakeCurlHttpClient({.max_idle_connections = 4});
  std::vector<std::string> urls;
  for (int i = 0; i < 20; ++i) urls.push_back(server.url(i));
  for (int cycle = 0; cycle < 3; ++cycle) {
    auto got = http->GetAll(urls, HttpRequestOptions{});
    ExpectAllOk(got);
    EXPECT_LE(ClientConnections(server.ports()), 4) << "cycle " << cycle;
  }
  EXPECT_GE(server.accepted(), 20);
  // Single-URL batches from another thread count against the same cap.
  std::thread([&] {
    for (int i = 0; i < 20; ++i) ExpectAllOk(http->GetAll({urls[static_cast<size_t>(i)]}, HttpRequestOptions{}));
  }).join();
  EXPECT_LE(ClientConnections(server.ports()), 4);
}

// issue 16 item 2: a cap of 0 keeps no connection at all.
TEST(ConnectionCache, ZeroCapClosesEveryConnection) {
  CountingServer server(3);
  auto http = MakeCurlHttpClient({.max_idle_connections = 0});
  std::vector<std::string> urls{server.url(0), server.url(1), server.url(2)};
  ExpectAllOk(http->GetAll(urls, HttpRequestOptions{}));
  ExpectAllOk(http->GetAll(urls, HttpRequestOptions{}));
  EXPECT_EQ(ClientConnections(server.ports()), 0);
  EXPECT_EQ(server.accepted(), 6);
}

// issue 16 item 2: within the cap, the second cycle opens no connection, also when it runs on
// another thread with other URLs (another collection group's query) to the same pods: the
// cache is shared by every caller, not kept per calling thread or per group.
TEST(ConnectionCache, ConnectionsAreReusedAcrossCyclesThreadsAndGroups) {
  CountingServer server(10);
  auto http = MakeCurlHttpClient({.max_idle_connections = 64});
  std::vector<std::string> group_a, group_b;
  for (int i = 0; i < 10; ++i) {
    group_a.push_back(server.url(i, "?so=a"));
    group_b.push_back(server.url(i, "?so=b"));
  }
  ExpectAllOk(http->GetAll(group_a, HttpRequestOptions{}));
  EXPECT_EQ(server.accepted(), 10);
  ExpectAllOk(http->GetAll(group_a, HttpRequestOptions{}));
  EXPECT_EQ(server.accepted(), 10) << "the second cycle must reuse every connection";
  std::thread([&] { ExpectAllOk(http->GetAll(group_b, HttpRequestOptions{})); }).join();
  EXPECT_EQ(server.accepted(), 10) << "another thread's group must reuse the same connections";
  EXPECT_EQ(ClientConnections(server.ports()), 10);
  EXPECT_EQ(server.requests().size(), 30u);
}

// issue 16 item 2: triggers with different credentials to the same pod share a connection but
// never each other's headers: each request carries its own trigger's bearer token, basic
// credentials or none.
TEST(ConnectionCache, EachTriggerSendsItsOwnCredentialsOnASharedConnection) {
  CountingServer server(1);
  auto http = MakeCurlHttpClient({.max_idle_connections = 8});
  HttpRequestOptions a, b, basic, none, header;
  a.bearer_token_file = TokenFile("a", "token-of-trigger-a");
  b.bearer_token_file = TokenFile("b", "token-of-trigger-b");
  basic.basic_auth = true;
  basic.username = "user";
  basic.password = "pass";
  header.headers = {"Authorization: Bearer from-a-trigger-header"};  // how scrape metadata sends one
  std::string url = server.url(0);
  std::thread([&] { ExpectAllOk(http->GetAll({url}, a)); }).join();
  std::thread([&] { ExpectAllOk(http->GetAll({url}, b)); }).join();
  ExpectAllOk(http->GetAll({url}, basic));
  ExpectAllOk(http->GetAll({url}, none));
  ExpectAllOk(http->GetAll({url}, a));
  ExpectAllOk(http->GetAll({url}, header));
  ExpectAllOk(http->GetAll({url}, none));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 7u);
  EXPECT_EQ(requests[0].authorization, "Bearer token-of-trigger-a");
  EXPECT_EQ(requests[1].authorization, "Bearer token-of-trigger-b");
  EXPECT_EQ(requests[2].authorization, "Basic dXNlcjpwYXNz");
  EXPECT_EQ(requests[3].authorization, "");
  EXPECT_EQ(requests[4].authorization, "Bearer token-of-trigger-a");
  EXPECT_EQ(requests[5].authorization, "Bearer from-a-trigger-header");
  EXPECT_EQ(requests[6].authorization, "");
  // All on one connection: the isolation above held on a reused connection.
  EXPECT_EQ(server.accepted(), 1);
  for (const auto& r : requests) EXPECT_EQ(r.connection, 1);
  std::remove(a.bearer_token_file.c_str());
  std::remove(b.bearer_token_file.c_str());
}

// Many callers at once: every batch gets its own results in order (bodies are not mixed up
// between batches that run together on the shared I/O thread), and recycled bodies come back
// empty-handed to later responses.
TEST(ConnectionCache, ConcurrentBatchesGetTheirOwnResults) {
  CountingServer server(8);
  auto http = MakeCurlHttpClient({.max_idle_connections = 16});
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 10; ++round) {
        std::vector<std::string> urls;
        for (int i = 0; i < 8; ++i) urls.push_back(server.url(i, "?c=" + std::to_string(c)));
        auto got = http->GetAll(urls, HttpRequestOptions{});
        if (got.size() != urls.size()) ++bad;
        for (const auto& r : got) {
          if (!r.ok() || r->body != "up 1\nx 2\n\n") ++bad;
        }
        http->Recycle(got);
        if (!got.empty()) ++bad;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(server.requests().size(), 4u * 10u * 8u);
  EXPECT_LE(ClientConnections(server.ports()), 16);
}

// issue 16 item 2: CloseIdleConnections() (called when nothing is collected any more) leaves
// no socket to any pod, and the client still works afterwards.
TEST(ConnectionCache, CloseIdleConnectionsClosesThemAll) {
  CountingServer server(5);
  auto http = MakeCurlHttpClient({.max_idle_connections = 64});
  std::vector<std::string> urls;
  for (int i = 0; i < 5; ++i) urls.push_back(server.url(i));
  ExpectAllOk(http->GetAll(urls, HttpRequestOptions{}));
  ASSERT_EQ(ClientConnections(server.ports()), 5);
  http->CloseIdleConnections();
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {  // asynchronous, on the I/O thread: <= 2 s
    closed = ClientConnections(server.ports()) == 0;
    if (!closed) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(closed) << ClientConnections(server.ports()) << " connections still open";
  ExpectAllOk(http->GetAll(urls, HttpRequestOptions{}));
  EXPECT_EQ(server.accepted(), 10);
}

// A failing endpoint in a batch fails alone, with the URL in the message.
TEST(ConnectionCache, AFailedEndpointFailsAlone) {
  CountingServer server(1);
  int closed_port;
  {
    CountingServer gone(1);
    closed_port = *gone.ports().begin();
  }
  auto http = MakeCurlHttpClient();
  std::string dead = "http://127.0.0.1:" + std::to_string(closed_port) + "/metrics";
  auto got = http->GetAll({server.url(0), dead, server.url(0)}, HttpRequestOptions{});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[0].ok());
  ASSERT_FALSE(got[1].ok());
  EXPECT_NE(got[1].status().message().find(dead), std::string::npos) << got[1].status().message();
  EXPECT_TRUE(got[2].ok());
}

}  // namespace
}  // namespace nimscaler::net
