// HttpServer (scaler/net/http_server.cc) over real loopback sockets: handler exceptions,
// kept-alive latency, raw paths, and the deadlines that keep slow clients from holding the
// worker threads (issue 19 items 1, 3, 5 and 8).
#include "scaler/net/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/net/raw_client.h"

namespace nimscaler::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::RawConn;

std::chrono::milliseconds Since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Route("/ok", [](const HttpServerRequest&) { return HttpServerResponse{200, "text/plain", "fine\n"}; });
    server_.Route("/echo/", [](const HttpServerRequest& req) {
      return HttpServerResponse{200, "application/octet-stream", req.path + "|" + req.body};
    });
    server_.Route("/throw", [](const HttpServerRequest&) -> HttpServerResponse {
      throw std::runtime_error("boom from a handler");
    });
    server_.Route("/throw-int", [](const HttpServerRequest&) -> HttpServerResponse { throw 42; });
    server_.RouteStream("/stream-throw", [](const HttpServerRequest&, HttpStreamWriter& w) {
      w.Start(200, "text/plain");
      w.Write("first part\n");
      throw std::runtime_error("stream broke");
    });
    server_.SetErrorLog([this](const std::string& m) {
      std::lock_guard lock(mu_);
      log_.push_back(m);
    });
  }
  void Start(HttpServerOptions options = {}) {
    ASSERT_TRUE(server_.Start("127.0.0.1:0", options).ok());
    port_ = server_.port();
  }
  std::optional<testing::RawResponse> Get(const std::string& path, std::chrono::milliseconds timeout = 2s) {
    RawConn c(port_);
    if (!c.ok() || !c.Send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) return std::nullopt;
    return c.ReadResponse(timeout);
  }
  std::vector<std::string> Log() {
    std::lock_guard lock(mu_);
    return log_;
  }

  HttpServer server_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> log_;
};

// Issue 19 item 1: an exception in a handler used to unwind through civetweb's C frames
// (std::terminate, SIGABRT). Now: 500 with a short message, a log line, and the server lives on.
TEST_F(HttpServerTest, HandlerExceptionsAre500sAndLogged) {
  Start();
  auto r = Get("/throw");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("internal error"), std::string::npos);
  EXPECT_EQ(r->body.find("boom"), std::string::npos) << "details go to the log, not to the client";
  auto i = Get("/throw-int");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->status, 500);
  auto ok = Get("/ok");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
  auto log = Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find("GET /throw"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find("boom from a handler"), std::string::npos) << log[0];
  EXPECT_NE(log[1].find("unknown exception"), std::string::npos) << log[1];
}

TEST_F(HttpServerTest, StreamHandlerExceptionCutsTheStreamWithoutTheFinalChunk) {
  Start();
  RawConn c(port_);
  ASSERT_TRUE(c.Send("GET /stream-throw HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(c.WaitClosed(2s)) << "the connection closes";
  EXPECT_NE(c.buffered().find("first part"), std::string::npos);
  EXPECT_EQ(c.buffered().find("\r\n0\r\n\r\n"), std::string::npos) << "no terminating chunk: the cut is visible";
  ASSERT_EQ(Log().size(), 1u);
}

// Issue 19 item 3: headers and body went out in separate writes, so on a kept-alive
// connection every response waited ~40 ms for the client's delayed ACK (Nagle). 20 requests
// took ~880 ms; with one write on a TCP_NODELAY socket they take a few ms. The bound is a
// functional one (half the time of the stalls), not a performance target.
TEST_F(HttpServerTest, KeptAliveRequestsAreNotDelayedByNagle) {
  Start();
  RawConn c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));  // warm-up
  ASSERT_TRUE(c.ReadResponse(2s).has_value());
  auto t0 = Clock::now();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.Send("GET /echo/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.ReadResponse(2s);
    ASSERT_TRUE(r.has_value()) << "request " << i << " on the same connection";
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "/echo/" + std::to_string(i) + "|");
    EXPECT_EQ(r->headers["connection"], "keep-alive");
  }
  auto took = Since(t0);
  std::cout << "20 kept-alive requests: " << took.count() << " ms\n";
  EXPECT_LT(took, 400ms);
}

// Issue 19 item 5: civetweb decoded the path in place, so %00 ended the C string and
// "/v1/wake/nim/llama%00junk" reached the handler as ".../llama". The handler now sees the NUL.
TEST_F(HttpServerTest, PercentDecodedPathKeepsNulAndEveryByte) {
  Start();
  auto r = Get("/echo/llama%00junk%2Fx%zz%4");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, std::string("/echo/llama\0junk/x%zz%4|", 24));
  auto nf = Get("/nothing%00here%FF");
  ASSERT_TRUE(nf.has_value());
  EXPECT_EQ(nf->status, 404);
  EXPECT_NE(nf->body.find("/nothing\\x00here\\xFF"), std::string::npos) << "shown escaped: " << nf->body;
}

TEST_F(HttpServerTest, BodiesAreReadUpToTheLimitAndRefusedBeyondIt) {
  HttpServerOptions o;
  o.max_body_bytes = 100;
  Start(o);
  RawConn c(port_);
  ASSERT_TRUE(c.Send("POST /echo/b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
  auto r = c.ReadResponse(2s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "/echo/b|hello");
  // A client that waits for "100 Continue" before its body gets it (curl does, for bodies).
  RawConn expect(port_);
  ASSERT_TRUE(expect.Send("POST /echo/e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
  auto go_on = expect.ReadResponse(1s);
  ASSERT_TRUE(go_on.has_value());
  EXPECT_EQ(go_on->status, 100);
  ASSERT_TRUE(expect.Send("abc"));
  auto echoed = expect.ReadResponse(2s);
  ASSERT_TRUE(echoed.has_value());
  EXPECT_EQ(echoed->body, "/echo/e|abc");
  RawConn big(port_);
  ASSERT_TRUE(big.Send("POST /echo/b HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nxx"));
  auto refused = big.ReadResponse(2s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 413);
  EXPECT_EQ(refused->headers["connection"], "close");
  RawConn chunked(port_);
  ASSERT_TRUE(chunked.Send("POST /echo/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"));
  auto no_length = chunked.ReadResponse(2s);
  ASSERT_TRUE(no_length.has_value());
  EXPECT_EQ(no_length->status, 411);
}

// Issue 19 item 8: a body sent one byte at a time held a worker for as long as the client
// liked (civetweb's mg_read only gives up after a full request timeout with no byte at all).
// With a 300 ms body deadline the client gets 408 and the connection closes in about that.
TEST_F(HttpServerTest, ATrickledBodyIsCutOffAtTheBodyDeadline) {
  HttpServerOptions o;
  o.request_timeout = 300ms;
  o.body_timeout = 300ms;
  Start(o);
  RawConn c(port_);
  ASSERT_TRUE(c.Send("POST /echo/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"));
  auto t0 = Clock::now();
  std::optional<testing::RawResponse> r;
  for (int i = 0; i < 40 && !r; ++i) {  // a byte every 100 ms, for at most 4 s
    if (!c.Send("x")) break;
    r = c.ReadResponse(100ms);
  }
  if (!r) r = c.ReadResponse(1s);
  ASSERT_TRUE(r.has_value()) << "no answer after " << Since(t0).count() << " ms of trickling";
  EXPECT_EQ(r->status, 408);
  EXPECT_LT(Since(t0), 1500ms) << "body_timeout + request_timeout, with slack";
  EXPECT_TRUE(c.WaitClosed(1s));
}

// Issue 19 item 8: a request head sent a byte at a time (slowloris) is cut off at the
// request deadline, whatever the pace.
TEST_F(HttpServerTest, ATrickledHeadIsCutOffAtTheRequestDeadline) {
  HttpServerOptions o;
  o.request_timeout = 300ms;
  Start(o);
  RawConn c(port_);
  std::string head = "GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  auto t0 = Clock::now();
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {  // a byte every 100 ms, for at most 4 s
    c.Send(std::string(1, i < static_cast<int>(head.size()) ? head[static_cast<size_t>(i)] : 'a'));
    closed = c.WaitClosed(100ms);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Since(t0), 1500ms) << "two request timeouts at most, with slack";
}

TEST_F(HttpServerTest, IdleKeptAliveConnectionsAreClosed) {
  HttpServerOptions o;
  o.keep_alive_timeout = 200ms;
  Start(o);
  RawConn c(port_);
  ASSERT_TRUE(c.Send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse(2s).has_value());
  auto t0 = Clock::now();
  EXPECT_TRUE(c.WaitClosed(2s));
  EXPECT_LT(Since(t0), 1500ms);
}

}  // namespace
}  // namespace nimscaler::net
