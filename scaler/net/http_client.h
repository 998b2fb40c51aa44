#pragma once
// HttpClient: the seam between collection and the network. The real implementation is
// CurlHttpClient; tests use a loopback HttpServer or a fake.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/result.h"

namespace nimscaler::net {

struct HttpRequestOptions {
  std::chrono::milliseconds timeout{2000};
  size_t max_body_bytes = 16u << 20;  ///< 16 MiB by default: far above any real scrape
  std::string accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.9,*/*;q=0.1";
  std::vector<std::string> headers;  ///< extra request headers, "Name: value"
  std::string ca_file;               ///< PEM bundle to verify https peers (empty: system store)
  /// A file holding a bearer token (scaler/net/bearer_token.h), read at every request and sent as
  /// `Authorization: Bearer <token>`; a missing or bad file fails the request before anything is
  /// sent. The token appears in no message. Callers set either this or basic_auth, not both.
  std::string bearer_token_file;
  bool insecure_skip_verify = false;
  /// Streams only: set to true from another thread to abort the transfer promptly.
  const std::atomic<bool>* cancel = nullptr;
  /// HTTP basic-auth credentials. They travel here, never in the URL, so every URL can be
  /// stored and shown as is (see scaler/net/url.h, issue 19 item 6).
  bool basic_auth = false;
  std::string username;
  std::string password;
  /// Refuse to connect to loopback, link-local and unspecified addresses and to this host's
  /// own addresses (scaler/net/address_policy.h), judged on the address actually connected
  /// to, new or reused, so no name resolution or DNS rebinding gets around it. Such requests
  /// never go through a proxy. For addresses a ScaledObject author chooses.
  bool refuse_internal_addresses = false;
};

/// Every option in `o` that decides what a server answers or who may read the answer (timeout,
/// size cap, Accept, headers, CA, credentials, address rule), length-prefixed into one string:
/// requests with equal keys may share a response. Never logged (it holds credentials).
std::string OptionsKey(const HttpRequestOptions& o);

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;
};

/// Legacy seam for callers that keep connections per caller (NewPool()); the libcurl client
/// shares one bounded connection cache across all callers instead and has no pools.
class ConnectionPool {
 public:
  virtual ~ConnectionPool() = default;
};

/// Performs HTTP GETs. Implementations are thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Transport failures (refused, timeout, body over the cap, an address refused by
  /// `refuse_internal_addresses`) are UNAVAILABLE with the cause; messages show the URL
  /// without userinfo. Any HTTP status is a successful transport: callers judge the status code.
  virtual Result<HttpResponse> Get(const std::string& url, const HttpRequestOptions& options) = 0;

  /// GETs every URL concurrently; results in the order of `urls`. Connections come from
  /// `pool` when the implementation has pools (see NewPool()); the libcurl client ignores it and
  /// uses its one shared connection cache. The default runs them one after another.
  virtual std::vector<Result<HttpResponse>> GetAll(const std::vector<std::string>& urls,
                                                   const HttpRequestOptions& options, ConnectionPool* pool = nullptr);

  /// A connection pool for GetAll(); the default implementation has none (nullptr).
  virtual std::unique_ptr<ConnectionPool> NewPool() { return nullptr; }

  /// Hands response bodies back once the caller is done with them, so their buffers can carry
  /// later responses instead of being grown again (issue 16 item 2). Leaves `responses` empty
  /// or holding emptied bodies. Optional: the default just drops them.
  virtual void Recycle(std::vector<Result<HttpResponse>>& responses) { responses.clear(); }

  /// Closes every idle keep-alive connection GetAll() keeps (and frees its spare buffers):
  /// now when no GetAll() is running, else when the running ones are done. For when nothing is
  /// collected any more: an idle scaler holds no socket to any pod. Optional: the default has
  /// nothing to close.
  virtual void CloseIdleConnections() {}

  /// A long-lived GET (e.g. a Kubernetes watch): `on_data` receives the body as it arrives
  /// when the status is 2xx, and returns false to stop. Returns the response (with the body
  /// only for non-2xx statuses) when the server closes the stream, on stop, on cancel or on
  /// `options.timeout`.
  virtual Result<HttpResponse> Stream(const std::string& url, const HttpRequestOptions& options,
                                      const std::function<bool(std::string_view)>& on_data) = 0;
};

/// Options of the libcurl client.
struct CurlClientOptions {
  /// Idle keep-alive connections kept for GetAll() across all callers together (the serve flag
  /// --max-idle-connections). When a finished transfer would leave more, the least recently
  /// used idle connection is closed. 0: close each connection after its transfer.
  size_t max_idle_connections = 1024;
};

/// The libcurl implementation (gzip accepted). GetAll() transfers run on a single multi handle
/// that the callers take turns driving: one connection cache for every caller, bounded by
/// `max_idle_connections`, and easy handles reused from a free list, so their number follows the
/// transfers in flight, not the endpoints known. Get() keeps an easy handle per calling thread;
/// Stream() uses its own handles per call.
std::unique_ptr<HttpClient> MakeCurlHttpClient(CurlClientOptions options = {});

}  // namespace nimscaler::net
