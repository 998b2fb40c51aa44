// Exports MakeCurlHttpClient(): HttpClient over libcurl. Single GETs and streams use one
// easy handle per calling thread (connections to pods are reused between scrapes);
// GetAll() runs a multi handle so all pods of a cycle are fetched concurrently.
#include <curl/curl.h>
#include <sys/socket.h>

#include <mutex>

#include "scaler/net/address_policy.h"
#include "scaler/net/bearer_token.h"
#include "scaler/net/http_client.h"
#include "scaler/net/url.h"

namespace nimscaler::net {

std::vector<Result<HttpResponse>> HttpClient::GetAll(const std::vector<std::string>& urls,
                                                     const HttpRequestOptions& options, ConnectionPool* /*pool*/) {
  std::vector<Result<HttpResponse>> out;
  out.reserve(urls.size());
  for (const auto& u : urls) out.push_back(Get(u, options));
  return out;
}

namespace {

struct Transfer {
  HttpResponse resp;
  size_t cap = 0;
  bool overflow = false;
  bool streaming = false;  // 2xx bodies go to on_data instead of resp.body
  bool stopped = false;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  std::string refused;  // "127.0.0.1 is a loopback address" when refuse_internal_addresses stopped it
  std::string ca_file;  // what https peers were verified against ("" = the system store), for messages
  char errbuf[CURL_ERROR_SIZE] = {0};
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  if (t->streaming) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (!(*t->on_data)(std::string_view(data, n))) {
        t->stopped = true;
        return 0;
      }
      return n;
    }
  }
  if (t->resp.body.size() + n > t->cap) {
    t->overflow = true;
    return 0;  // makes curl abort the transfer with CURLE_WRITE_ERROR
  }
  t->resp.body.append(data, n);
  return n;
}

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* cancel = static_cast<const std::atomic<bool>*>(user);
  return cancel != nullptr && cancel->load() ? 1 : 0;  // non-zero aborts
}

// New connections: refused addresses get no socket at all (curl then tries the name's other
// addresses, if any).
curl_socket_t OpenSocket(void* user, curlsocktype purpose, curl_sockaddr* a) {
  auto* t = static_cast<Transfer*>(user);
  if (purpose == CURLSOCKTYPE_IPCXN) {
    std::string kind = RefusedAddressKind(&a->addr);
    if (!kind.empty()) {
      if (t->refused.empty()) t->refused = FormatAddress(&a->addr) + " is " + kind;
      return CURL_SOCKET_BAD;
    }
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

// Every request, also on a reused keep-alive connection: judged again before it is sent.
int BeforeRequest(void* user, char* primary_ip, char* /*local_ip*/, int /*primary_port*/, int /*local_port*/) {
  auto* t = static_cast<Transfer*>(user);
  std::string kind = RefusedAddressKind(primary_ip != nullptr ? std::string_view(primary_ip) : std::string_view());
  if (kind.empty()) return CURL_PREREQFUNC_OK;
  if (t->refused.empty()) t->refused = std::string(primary_ip) + " is " + kind;
  return CURL_PREREQFUNC_ABORT;
}

// The Authorization header of o.bearer_token_file, read now ("" without one), or why it
// cannot be sent.
Result<std::string> AuthorizationHeader(const HttpRequestOptions& o) {
  if (o.bearer_token_file.empty()) return std::string();
  auto token = ReadBearerToken(o.bearer_token_file);
  if (!token.ok()) return token.status();
  return "Authorization: Bearer " + *token;
}

Status NotSent(const std::string& url, const Status& why) {
  return Unavailable("GET " + RedactUrl(url) + " not sent: " + why.message());
}

// `authorization`: from AuthorizationHeader(), added to the request's headers ("" = none).
void Configure(CURL* c, const std::string& url, const HttpRequestOptions& o, const std::string& authorization,
               Transfer* t) {
  curl_easy_reset(c);
  t->curl = c;
  t->cap = o.max_body_bytes;
  t->ca_file = o.ca_file;
  std::string accept = "Accept: " + o.accept;
  t->headers = curl_slist_append(nullptr, accept.c_str());
  for (const auto& h : o.headers) t->headers = curl_slist_append(t->headers, h.c_str());
  if (!authorization.empty()) t->headers = curl_slist_append(t->headers, authorization.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long>(o.timeout.count(), 5000)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate if the server offers it
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "nim-scaler");
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  // libcurl keeps a parsed CA store for 24 h by default: a renewed CA file (a rotated Secret or
  // ConfigMap) would go unseen by new connections that long. A minute.
  curl_easy_setopt(c, CURLOPT_CA_CACHE_TIMEOUT, 60L);
  if (o.insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (o.basic_auth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, o.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.password.c_str());
  }
  if (o.refuse_internal_addresses) {
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, BeforeRequest);
    curl_easy_setopt(c, CURLOPT_PREREQDATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");  // the address judged must be the target's
  }
  if (o.cancel != nullptr) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, Progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, o.cancel);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
}

Result<HttpResponse> Finish(CURLcode rc, const std::string& raw_url, Transfer* t) {
  curl_slist_free_all(t->headers);
  t->headers = nullptr;
  const std::string url = RedactUrl(raw_url);
  if (t->overflow) {
    return Unavailable("response from " + url + " exceeds the " + std::to_string(t->cap) + "-byte limit");
  }
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->resp.status);
  char* ct = nullptr;
  curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &ct);
  if (ct != nullptr) t->resp.content_type = ct;
  if (rc != CURLE_OK && !(t->stopped && rc == CURLE_WRITE_ERROR)) {
    if (!t->refused.empty()) {
      return Unavailable("GET " + url + " refused: " + t->refused + "; a trigger may reach this host's own, "
                         "loopback and link-local addresses only when the server runs with "
                         "--allow-static-endpoints");
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK) return Unavailable("GET " + url + " cancelled");
    std::string why = t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_PEER_FAILED_VERIFICATION) {
      return Unavailable("GET " + url + " failed TLS verification: " + why + " (verified against " +
                         (t->ca_file.empty() ? std::string("the system CA store") : "CA file \"" + t->ca_file + "\"") +
                         ")");
    }
    return Unavailable("GET " + url + " failed: " + why);
  }
  return std::move(t->resp);
}

struct EasyHandle {
  CURL* curl = curl_easy_init();
  ~EasyHandle() { curl_easy_cleanup(curl); }
};

// The multi handle owns the keep-alive connection cache of concurrent scrapes: cleaning it up
// closes those connections (a stopped collector must leave no sockets). Destroyed in reverse
// order: easy handles first, then the multi handle.
struct CurlPool final : public ConnectionPool {
  CURLM* multi = curl_multi_init();
  std::vector<std::unique_ptr<EasyHandle>> handles;
  ~CurlPool() override {
    handles.clear();
    curl_multi_cleanup(multi);
  }
};

// The calling thread's pool, for GetAll() without one; created on first use only.
CurlPool& ThreadPool() {
  thread_local CurlPool pool;
  return pool;
}

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Result<HttpResponse> Get(const std::string& url, const HttpRequestOptions& options) override {
    thread_local EasyHandle handle;
    if (handle.curl == nullptr) return Internal("curl_easy_init failed");
    auto authorization = AuthorizationHeader(options);
    if (!authorization.ok()) return NotSent(url, authorization.status());
    Transfer t;
    Configure(handle.curl, url, options, *authorization, &t);
    return Finish(curl_easy_perform(handle.curl), url, &t);
  }

  Result<HttpResponse> Stream(const std::string& url, const HttpRequestOptions& options,
                              const std::function<bool(std::string_view)>& on_data) override {
    // A stream holds its connection for minutes: it gets its own handles, and runs on a multi
    // handle polled every 100 ms so a cancel ends it promptly even when no byte arrives.
    auto authorization = AuthorizationHeader(options);
    if (!authorization.ok()) return NotSent(url, authorization.status());
    CurlPool pool;
    pool.handles.push_back(std::make_unique<EasyHandle>());
    CURL* easy = pool.handles.back()->curl;
    if (easy == nullptr || pool.multi == nullptr) return Internal("curl init failed");
    Transfer t;
    t.streaming = true;
    t.on_data = &on_data;
    Configure(easy, url, options, *authorization, &t);
    curl_multi_add_handle(pool.multi, easy);
    CURLcode rc = CURLE_OK;
    bool cancelled = false;
    int running = 1;
    while (running > 0) {
      curl_multi_perform(pool.multi, &running);
      int msgs = 0;
      while (CURLMsg* m = curl_multi_info_read(pool.multi, &msgs)) {
        if (m->msg == CURLMSG_DONE) rc = m->data.result;
      }
      if (running == 0) break;
      if (options.cancel != nullptr && options.cancel->load()) {
        cancelled = true;
        break;
      }
      curl_multi_poll(pool.multi, nullptr, 0, 100, nullptr);
    }
    curl_multi_remove_handle(pool.multi, easy);
    if (cancelled) {
      curl_slist_free_all(t.headers);
      return Unavailable("GET " + RedactUrl(url) + " cancelled");
    }
    return Finish(rc, url, &t);
  }

  std::unique_ptr<ConnectionPool> NewPool() override { return std::make_unique<CurlPool>(); }

  std::vector<Result<HttpResponse>> GetAll(const std::vector<std::string>& urls, const HttpRequestOptions& options,
                                           ConnectionPool* pool) override {
    if (urls.empty()) return {};
    auto authorization = AuthorizationHeader(options);  // read once for the whole batch
    if (!authorization.ok()) {
      std::vector<Result<HttpResponse>> failed;
      for (const auto& u : urls) failed.push_back(NotSent(u, authorization.status()));
      return failed;
    }
    // Handles are kept in the pool and grown on demand, so keep-alive connections survive
    // from one cycle to the next.
    CurlPool& p = pool != nullptr ? static_cast<CurlPool&>(*pool) : ThreadPool();
    CURLM* multi = p.multi;
    auto& handles = p.handles;
    while (handles.size() < urls.size()) handles.push_back(std::make_unique<EasyHandle>());
    std::vector<Transfer> transfers(urls.size());
    for (size_t i = 0; i < urls.size(); ++i) {
      Configure(handles[i]->curl, urls[i], options, *authorization, &transfers[i]);
      curl_easy_setopt(handles[i]->curl, CURLOPT_PRIVATE, &transfers[i]);
      curl_multi_add_handle(multi, handles[i]->curl);
    }
    std::vector<CURLcode> codes(urls.size(), CURLE_OK);
    int running = 0;
    do {
      curl_multi_perform(multi, &running);
      int msgs = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &msgs)) {
        if (m->msg != CURLMSG_DONE) continue;
        Transfer* t = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
        codes[static_cast<size_t>(t - transfers.data())] = m->data.result;
      }
      if (running > 0) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
    } while (running > 0);
    std::vector<Result<HttpResponse>> out;
    out.reserve(urls.size());
    for (size_t i = 0; i < urls.size(); ++i) {
      curl_multi_remove_handle(multi, handles[i]->curl);
      out.push_back(Finish(codes[i], urls[i], &transfers[i]));
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

}  // namespace nimscaler::net
