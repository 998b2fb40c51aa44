// Exports HttpServer, a thin wrapper over civetweb's C API.
#include "scaler/net/http_server.h"

#include <civetweb.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <vector>

namespace nimscaler::net {

namespace {

class CivetStreamWriter final : public HttpStreamWriter {
 public:
  explicit CivetStreamWriter(mg_connection* conn) : conn_(conn) {}
  ~CivetStreamWriter() override {
    if (started_) mg_send_chunk(conn_, "", 0);
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

 private:
  mg_connection* conn_;
  bool started_ = false;
};

}  // namespace

struct HttpServer::Impl {
  mg_context* ctx = nullptr;
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

  static int Dispatch(mg_connection* conn, void* cbdata) {
    auto* self = static_cast<Impl*>(cbdata);
    const mg_request_info* ri = mg_get_request_info(conn);
    HttpServerRequest req;
    req.method = ri->request_method ? ri->request_method : "";
    req.path = ri->local_uri ? ri->local_uri : "";
    req.query = ri->query_string ? ri->query_string : "";
    for (int i = 0; i < ri->num_headers; ++i) {
      std::string name = ri->http_headers[i].name;
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      req.headers[name] = ri->http_headers[i].value;
    }
    constexpr size_t kMaxBody = 1 << 20;
    char buf[8192];
    int n;
    if (ri->content_length > 0) {
      while (req.body.size() < kMaxBody && (n = mg_read(conn, buf, sizeof buf)) > 0) {
        req.body.append(buf, static_cast<size_t>(n));
      }
    }
    HttpServerResponse resp;
    const RouteEntry* route = self->Find(req.path);
    if (route != nullptr && route->stream) {
      CivetStreamWriter writer(conn);
      route->stream(req, writer);
      return 200;
    }
    if (route != nullptr) {
      resp = route->handler(req);
    } else {
      resp = {404, "text/plain; charset=utf-8", "not found: " + req.path + "\n"};
    }
    mg_response_header_start(conn, resp.status);
    mg_response_header_add(conn, "Content-Type", resp.content_type.c_str(), -1);
    std::string len = std::to_string(resp.body.size());
    mg_response_header_add(conn, "Content-Length", len.c_str(), -1);
    mg_response_header_send(conn);
    if (req.method != "HEAD") mg_write(conn, resp.body.data(), resp.body.size());
    return resp.status;
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

Status HttpServer::Start(const std::string& addr, int threads) {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
  std::string ports = addr;
  if (!ports.empty() && ports.front() == ':') ports = ports.substr(1);  // all interfaces
  std::string nthreads = std::to_string(threads);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", nthreads.c_str(),
                           "enable_keep_alive", "yes", "request_timeout_ms", "10000", nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };  // we log
  impl_->ctx = mg_start(&callbacks, nullptr, options);
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
    mg_stop(impl_->ctx);
    impl_->ctx = nullptr;
  }
}

}  // namespace nimscaler::net
