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
#include "tests/net/counting_server.h"

namespace nimscaler::net {
namespace {

using nimscaler::testing::CountingServer;

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
