#pragma once
// TlsAuthProxy: a loopback HTTPS front for a plain-HTTP server (a test's real Prometheus), as an
// authenticating gateway in front of Prometheus/Mimir/Thanos would be: it terminates TLS with a
// test certificate, answers 401 unless `Authorization: Bearer <token>` matches, 403 unless the
// required headers (e.g. X-Scope-OrgID) match, and otherwise forwards the GET and returns the
// upstream's answer. One connection at a time, one request per connection (Connection: close),
// every read and write bounded by a 2 s socket timeout. Counts what it saw for the test.

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "scaler/common/text.h"
#include "scaler/net/http_client.h"

namespace nimscaler::testing {

class TlsAuthProxy {
 public:
  struct Seen {
    int handshake_failures = 0;               ///< TLS handshakes the client broke off (it did not trust us)
    int unauthorized = 0;                     ///< requests answered 401 (no or wrong bearer token)
    int forbidden = 0;                        ///< requests answered 403 (a required header missing or wrong)
    int forwarded = 0;                        ///< requests passed to the upstream
    std::vector<std::string> authorizations;  ///< every Authorization header received ("" when none)
  };

  /// `upstream`: "http://127.0.0.1:port"; `cert_pem`/`key_pem`: the server certificate.
  TlsAuthProxy(std::string upstream, const std::string& cert_pem, const std::string& key_pem, std::string token,
               std::map<std::string, std::string> required_headers)
      : upstream_(std::move(upstream)), token_(std::move(token)), required_(std::move(required_headers)) {
    signal(SIGPIPE, SIG_IGN);  // a client that hangs up mid-answer is an error value, not a kill
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    bool ok = ctx_ != nullptr && cert != nullptr && key != nullptr && SSL_CTX_use_certificate(ctx_, cert) == 1 &&
              SSL_CTX_use_PrivateKey(ctx_, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    if (!ok) throw std::runtime_error("TlsAuthProxy: cannot load the certificate and key");
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("TlsAuthProxy: cannot listen on loopback");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~TlsAuthProxy() {
    stop_.store(true);
    thread_.join();
    close(listen_fd_);
    SSL_CTX_free(ctx_);
  }
  TlsAuthProxy(const TlsAuthProxy&) = delete;
  TlsAuthProxy& operator=(const TlsAuthProxy&) = delete;

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  /// The token the proxy accepts from now on (a rotation).
  void SetToken(std::string token) {
    std::lock_guard lock(mu_);
    token_ = std::move(token);
  }
  Seen seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  void Reset() {
    std::lock_guard lock(mu_);
    seen_ = Seen();
  }

 private:
  void Loop() {
    while (!stop_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      timeval tv{2, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        Serve(ssl);
        SSL_shutdown(ssl);
      } else {
        std::lock_guard lock(mu_);
        ++seen_.handshake_failures;
      }
      ERR_clear_error();
      SSL_free(ssl);
      close(fd);
    }
  }

  void Serve(SSL* ssl) {
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos && in.size() < 65536) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
    size_t line_end = in.find("\r\n");
    std::string request_line = in.substr(0, line_end);
    std::map<std::string, std::string> headers;  // names lower-cased
    size_t pos = line_end + 2;
    while (pos < in.size()) {
      size_t end = in.find("\r\n", pos);
      if (end == std::string::npos || end == pos) break;
      std::string line = in.substr(pos, end - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos)
        headers[ToLower(line.substr(0, colon))] = std::string(Trim(line.substr(colon + 1)));
      pos = end + 2;
    }
    size_t sp1 = request_line.find(' '), sp2 = request_line.rfind(' ');
    std::string target = sp1 != std::string::npos && sp2 > sp1 ? request_line.substr(sp1 + 1, sp2 - sp1 - 1) : "/";
    std::string authorization = headers.count("authorization") ? headers["authorization"] : "";
    int status = 0;
    std::string body, content_type = "text/plain";
    {
      std::lock_guard lock(mu_);
      seen_.authorizations.push_back(authorization);
      if (authorization != "Bearer " + token_) {
        ++seen_.unauthorized;
        status = 401;
        body = "unauthorized\n";
      } else {
        for (const auto& [name, want] : required_) {
          auto it = headers.find(ToLower(name));
          if (status == 0 && (it == headers.end() || it->second != want)) {
            ++seen_.forbidden;
            status = 403;
            body = "missing or wrong " + name + "\n";
          }
        }
        if (status == 0) ++seen_.forwarded;
      }
    }
    if (status == 0) {  // forwarded outside the lock
      auto r = http_->Get(upstream_ + target, {.accept = "application/json"});
      status = r.ok() ? static_cast<int>(r->status) : 502;
      body = r.ok() ? r->body : r.status().message();
      if (r.ok() && !r->content_type.empty()) content_type = r->content_type;
    }
    std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + content_type +
                      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
                      (status == 401 ? "WWW-Authenticate: Bearer\r\n" : "") + "\r\n" + body;
    SSL_write(ssl, out.data(), static_cast<int>(out.size()));
  }

  std::string upstream_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::shared_ptr<net::HttpClient> http_ = net::MakeCurlHttpClient();
  mutable std::mutex mu_;
  std::string token_;
  std::map<std::string, std::string> required_;
  Seen seen_;
};

}  // namespace nimscaler::testing
