// Exports HttpServer, a thin wrapper over civetweb's C API.
//
// civetweb (1.15) gives each connection a worker thread until it closes, so every phase a
// client controls is bounded here: the request head by request_timeout_ms (a total deadline in
// civetweb's read_message), the body by our own deadline (ReadBody), the wait for the next
// request on a kept-alive connection by keep_alive_timeout_ms. No exception crosses back into
// civetweb's C frames: Dispatch catches everything.
#include "scaler/net/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "scaler/common/text.h"
#include "scaler/net/url.h"

namespace nimscaler::net {

namespace {

using SteadyClock = std::chrono::steady_clock;

class CivetStreamWriter final : public HttpStreamWriter {
 public:
  explicit CivetStreamWriter(mg_connection* conn) : conn_(conn) {}
  ~CivetStreamWriter() override {
    if (started_ && !aborted_) mg_send_chunk(conn_, "", 0);
  }
  void Start(int status, const std::string& content_type) override {
    mg_response_header_start(conn_, status);
    mg_response_header_add(conn_, "Content-Type", content_type.c_str(), -1);
    mg_response_header_add(conn_, "Transfer-Encoding", "chunked", -1);
    mg_response_header_send(conn_);
    started_ = true;
  }
  bool Write(std::string_view data) override {
    return mg_send_chunk(conn_, data.data(), static_cast<unsigned>(data.size())) > 0;
  }
  bool started() const { return started_; }
  /// The handler failed mid-stream: no final chunk, so the client sees a cut stream, not a
  /// complete one.
  void Abort() { aborted_ = true; }

 private:
  mg_connection* conn_;
  bool started_ = false;
  bool aborted_ = false;
};

// Percent-decodes a path into a std::string, so %00 becomes a NUL byte the handler can see
// and refuse (civetweb's own in-place decoding ends the C string there).
std::string DecodePath(std::string_view raw) { return PercentDecode(raw); }

bool HasToken(std::string_view header, std::string_view token) {
  for (const auto& part : SplitTrimmed(header, ',')) {
    if (ToLower(part) == token) return true;
  }
  return false;
}

// Whether civetweb will keep this connection open after the response (mirrors its rule:
// the client's Connection header decides, else HTTP/1.1 keeps and 1.0 closes).
bool ClientKeepsAlive(const HttpServerRequest& req, const mg_request_info* ri) {
  auto it = req.headers.find("connection");
  if (it != req.headers.end()) return HasToken(it->second, "keep-alive");
  return ri->http_version != nullptr && std::string_view(ri->http_version) == "1.1";
}

// Status line, headers and body in one buffer, so one write sends them (two writes on a
// kept-alive connection wait for the client's delayed ACK when Nagle is on).
std::string SerializeResponse(mg_connection* conn, const HttpServerResponse& resp, bool keep_alive, bool head_only) {
  const char* reason = mg_get_response_code_text(conn, resp.status);
  std::string out;
  out.reserve(160 + (head_only ? 0 : resp.body.size()));
  out += "HTTP/1.1 " + std::to_string(resp.status) + " " + (reason != nullptr ? reason : "") + "\r\n";
  out += "Content-Type: " + resp.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "Cache-Control: no-store\r\n\r\n";
  if (!head_only) out += resp.body;
  return out;
}

HttpServerResponse Text(int status, std::string body) {
  return HttpServerResponse{status, "text/plain; charset=utf-8", std::move(body) + "\n"};
}

enum class BodyResult { kComplete, kTimedOut, kClientGone };

// Reads the Content-Length body one byte per mg_read(). civetweb's mg_read(n) keeps reading
// until n bytes arrived and only gives up after a full request_timeout with no byte at all, so
// a client sending a byte now and then could hold a larger read for n timeouts; a one-byte
// read returns as soon as one byte is there, which lets the deadline be checked between bytes.
// Bytes civetweb already buffered with the headers (the usual case) cost no system call.
BodyResult ReadBody(mg_connection* conn, size_t length, SteadyClock::time_point deadline, std::string* body) {
  body->reserve(length);
  char byte;
  while (body->size() < length) {
    if (SteadyClock::now() >= deadline) return BodyResult::kTimedOut;
    int n = mg_read(conn, &byte, 1);
    if (n < 0) return BodyResult::kClientGone;
    if (n == 1) body->push_back(byte);
    // n == 0: a read timeout with no data yet; the deadline decides.
  }
  return BodyResult::kComplete;
}

// Opens and closes one connection to the server's own port: civetweb's accept loop checks
// for a stop only between polls of up to 2 s, and a new connection ends the current poll.
void Knock(const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *v4;
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  close(fd);
}

// The address to knock on for a listening address: loopback for a wildcard or a name.
std::string KnockHost(const std::string& addr) {
  size_t colon = addr.rfind(':');
  std::string host = colon == std::string::npos ? "" : addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

}  // namespace

struct HttpServer::Impl {
  mg_context* ctx = nullptr;
  std::string knock_host;
  HttpServerOptions options;
  std::function<void(const std::string&)> error_log;
  struct RouteEntry {
    std::string path;
    HttpHandler handler;
    HttpStreamHandler stream;
  };
  std::vector<RouteEntry> routes;

  const RouteEntry* Find(const std::string& path) const {
    for (const auto& r : routes) {
      if (r.path == path) return &r;
    }
    const RouteEntry* best = nullptr;
    size_t best_len = 0;
    for (const auto& r : routes) {
      if (r.path.back() == '/' && path.rfind(r.path, 0) == 0 && r.path.size() > best_len) {
        best = &r;
        best_len = r.path.size();
      }
    }
    return best;
  }

  void LogError(const std::string& message) const noexcept {
    try {
      if (error_log) {
        error_log(message);
        return;
      }
    } catch (...) {
    }
    std::fprintf(stderr, "http server: %s\n", message.c_str());
  }

  static void Send(mg_connection* conn, const HttpServerResponse& resp, bool keep_alive, bool head_only) {
    if (!keep_alive) mg_disable_connection_keep_alive(conn);
    std::string wire = SerializeResponse(conn, resp, keep_alive, head_only);
    mg_write(conn, wire.data(), wire.size());
  }

  // Runs the request; returns the status for civetweb's bookkeeping. May throw (caught below).
  int Handle(mg_connection* conn, const mg_request_info* ri, CivetStreamWriter* writer) const {
    auto started = SteadyClock::now();
    HttpServerRequest req;
    req.method = ri->request_method ? ri->request_method : "";
    req.path = DecodePath(ri->local_uri_raw ? ri->local_uri_raw : (ri->local_uri ? ri->local_uri : ""));
    req.query = ri->query_string ? ri->query_string : "";
    for (int i = 0; i < ri->num_headers; ++i) {
      std::string name = ri->http_headers[i].name ? ri->http_headers[i].name : "";
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      req.headers[name] = ri->http_headers[i].value ? ri->http_headers[i].value : "";
    }
    bool head_only = req.method == "HEAD";
    bool keep_alive = ClientKeepsAlive(req, ri);

    // The body. Whatever is not read here must not be read by civetweb either (it would drain
    // it with no deadline before the next request), so every early answer closes.
    if (ri->content_length < 0 && req.headers.count("transfer-encoding") != 0) {
      Send(conn, Text(411, "request bodies need a Content-Length (chunked bodies are not accepted)"), false, head_only);
      return 411;
    }
    if (ri->content_length > 0) {
      auto length = static_cast<unsigned long long>(ri->content_length);
      if (length > options.max_body_bytes) {
        Send(conn,
             Text(413, "request body of " + std::to_string(length) + " bytes is over the limit of " +
                           std::to_string(options.max_body_bytes)),
             false, head_only);
        return 413;
      }
      // civetweb answers "Expect: 100-continue" only for its own file and CGI handlers; curl
      // would otherwise wait a second before sending a body.
      auto expect = req.headers.find("expect");
      if (expect != req.headers.end() && ToLower(Trim(expect->second)) == "100-continue") {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        mg_write(conn, kContinue.data(), kContinue.size());
      }
      switch (ReadBody(conn, static_cast<size_t>(length), started + options.body_timeout, &req.body)) {
        case BodyResult::kComplete: break;
        case BodyResult::kTimedOut:
          Send(conn, Text(408, "request body not received within " + FormatDuration(options.body_timeout)), false,
               head_only);
          return 408;
        case BodyResult::kClientGone: mg_disable_connection_keep_alive(conn); return 400;
      }
    }

    const RouteEntry* route = Find(req.path);
    if (route != nullptr && route->stream) {
      route->stream(req, *writer);
      return 200;
    }
    HttpServerResponse resp =
        route != nullptr ? route->handler(req) : Text(404, "not found: " + Printable(req.path, 100));
    Send(conn, resp, keep_alive, head_only);
    return resp.status;
  }

  static int Dispatch(mg_connection* conn, void* cbdata) {
    auto* self = static_cast<Impl*>(cbdata);
    const mg_request_info* ri = mg_get_request_info(conn);
    CivetStreamWriter writer(conn);
    try {
      return self->Handle(conn, ri, &writer);
    } catch (const std::exception& e) {
      self->Failed(conn, ri, &writer, e.what());
    } catch (...) {
      self->Failed(conn, ri, &writer, "unknown exception");
    }
    return 500;
  }

  void Failed(mg_connection* conn, const mg_request_info* ri, CivetStreamWriter* writer,
              const char* what) const noexcept {
    try {
      std::string where = std::string(ri && ri->request_method ? ri->request_method : "?") + " " +
                          Printable(ri && ri->local_uri_raw ? ri->local_uri_raw : "?", 100);
      LogError("handler for " + where + " failed: " + Printable(what, 300));
    } catch (...) {
    }
    try {
      if (writer->started()) {
        writer->Abort();  // the status line is out; closing is all that is left
        mg_disable_connection_keep_alive(conn);
        return;
      }
      Send(conn, Text(500, "internal error while answering this request (details are in the scaler's log)"), false,
           ri != nullptr && ri->request_method != nullptr && std::string_view(ri->request_method) == "HEAD");
    } catch (...) {
      mg_disable_connection_keep_alive(conn);
    }
  }
};

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) {}
HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(const std::string& path, HttpHandler handler) {
  impl_->routes.push_back({path, std::move(handler), nullptr});
}

void HttpServer::RouteStream(const std::string& path, HttpStreamHandler handler) {
  impl_->routes.push_back({path, nullptr, std::move(handler)});
}

void HttpServer::SetErrorLog(std::function<void(const std::string&)> log) { impl_->error_log = std::move(log); }

Status HttpServer::Start(const std::string& addr, int threads) {
  HttpServerOptions options;
  options.threads = threads;
  return Start(addr, options);
}

Status HttpServer::Start(const std::string& addr, const HttpServerOptions& options) {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
  if (options.threads < 1 || options.connection_queue < 1 || options.listen_backlog < 1 ||
      options.request_timeout.count() < 1 || options.keep_alive_timeout.count() < 1) {
    return InvalidArgument("HTTP server: threads, queue, backlog and timeouts must be positive");
  }
  impl_->options = options;
  impl_->knock_host = KnockHost(addr);
  std::string ports = addr;
  if (!ports.empty() && ports.front() == ':') ports = ports.substr(1);  // all interfaces
  std::string nthreads = std::to_string(options.threads);
  std::string request_ms = std::to_string(options.request_timeout.count());
  std::string keep_alive_ms = std::to_string(options.keep_alive_timeout.count());
  std::string queue = std::to_string(options.connection_queue);
  std::string backlog = std::to_string(options.listen_backlog);
  const char* mg_options[] = {"listening_ports", ports.c_str(), "num_threads", nthreads.c_str(), "enable_keep_alive",
                              "yes", "request_timeout_ms", request_ms.c_str(), "keep_alive_timeout_ms",
                              keep_alive_ms.c_str(), "connection_queue", queue.c_str(), "listen_backlog",
                              backlog.c_str(), "tcp_nodelay", "1",
                              // We decode the path ourselves (DecodePath): civetweb decodes in place,
                              // so %00 would silently end the path.
                              "decode_url", "no", nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };  // we log
  impl_->ctx = mg_start(&callbacks, nullptr, mg_options);
  if (impl_->ctx == nullptr) {
    return Unavailable("cannot listen on HTTP address '" + addr + "' (in use or invalid)");
  }
  mg_set_request_handler(impl_->ctx, "/", &Impl::Dispatch, impl_.get());
  mg_server_port ports_info[4];
  int n = mg_get_server_ports(impl_->ctx, 4, ports_info);
  port_ = n > 0 ? ports_info[0].port : 0;
  return Status::Ok();
}

void HttpServer::Stop() {
  if (impl_ && impl_->ctx != nullptr) {
    // mg_stop() returns once civetweb's accept loop sees the stop, which it checks only after
    // each poll of up to 2 s; knocking on the port ends that poll at once. Bounded: mg_stop()
    // returns within 2 s even if no knock gets through.
    std::atomic<bool> stopped{false};
    std::thread knocker([this, &stopped] {
      while (!stopped.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (!stopped.load()) Knock(impl_->knock_host, port_);
      }
    });
    mg_stop(impl_->ctx);
    stopped.store(true);
    knocker.join();
    impl_->ctx = nullptr;
  }
}

}  // namespace nimscaler::net
