// Exports MakeCurlHttpClient(): HttpClient over libcurl. Single GETs use one easy handle per
// calling thread and streams their own; GetAll() runs its transfers concurrently on a single
// multi handle whose connection cache every caller shares (issue 16 item 2).
#include <curl/curl.h>
#include <sys/socket.h>

#include <condition_variable>
#include <mutex>
#include <optional>

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
  if (t->resp.body.empty()) {
    // Size the buffer once from Content-Length (when given and within the cap) rather than
    // growing it chunk by chunk; a gzip body's length is only a lower bound, which is fine.
    curl_off_t length = -1;
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (length > 0 && static_cast<size_t>(length) <= t->cap) t->resp.body.reserve(static_cast<size_t>(length));
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
      return Unavailable("GET " + url + " refused: " + t->refused +
                         "; a trigger may reach this host's own, "
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

// The transfers of every GetAll(), on one multi handle. The multi handle owns the connection
// cache, so a connection opened for one collection group is reused by the next request to the
// same host and port from any group or worker, and CURLMOPT_MAXCONNECTS bounds the idle
// connections kept (libcurl closes the least recently used idle one when a finished transfer
// would exceed it). What a connection carries between requests is only the TCP (and TLS)
// session: headers, credentials and the address check (BeforeRequest) are set per request, and
// libcurl reuses a TLS connection only for a request with the same TLS options (CA file,
// verification). Easy handles come from a free list, so there are as many as transfers in
// flight at once, not one per endpoint.
//
// No thread of its own: the callers take turns driving the multi handle (leader/followers).
// A caller queues its transfers; if nobody drives, it drives (runs every queued and running
// transfer, everyone's) until its own batch is done, then steps down and a waiting caller
// takes over. So a lone caller (the usual case: groups are spread over the interval) does its
// fetch on its own thread with no hand-off, and concurrent callers share one poll loop. The
// multi handle, the running transfers and the free lists belong to whoever drives; no lock is
// held across I/O.
class SharedTransfers {
 public:
  explicit SharedTransfers(size_t max_idle_connections) : max_idle_connections_(max_idle_connections) {
    multi_ = NewMulti();
  }

  ~SharedTransfers() {  // no caller is left (the client is being destroyed)
    for (CURL* e : idle_handles_) curl_easy_cleanup(e);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);  // closes every cached connection
  }

  std::vector<Result<HttpResponse>> Run(const std::vector<std::string>& urls, const HttpRequestOptions& options,
                                        const std::string& authorization) {
    Batch batch;
    batch.options = &options;
    batch.authorization = &authorization;
    batch.results.resize(urls.size());
    batch.jobs.resize(urls.size());
    batch.remaining = urls.size();
    {
      std::unique_lock lock(mu_);
      if (multi_ == nullptr) {
        batch.remaining = 0;
      } else {
        for (size_t i = 0; i < urls.size(); ++i) {
          Job& j = batch.jobs[i];
          j.batch = &batch;
          j.index = i;
          j.url = &urls[i];
          submitted_.push_back(&j);
        }
        if (driving_) curl_multi_wakeup(multi_);  // the driver picks them up now
      }
      while (batch.remaining > 0) {
        if (driving_) {
          turn_.wait(lock);  // our batch finished, or the driver stepped down
          continue;
        }
        driving_ = true;
        lock.unlock();
        Drive(batch);
        lock.lock();
        driving_ = false;
        turn_.notify_all();  // a caller still waiting takes over the transfers left
      }
    }
    std::vector<Result<HttpResponse>> out;
    out.reserve(urls.size());
    for (size_t i = 0; i < urls.size(); ++i) {
      if (batch.results[i].has_value()) {
        out.push_back(std::move(*batch.results[i]));
      } else {
        out.push_back(Internal("GET " + RedactUrl(urls[i]) + " not sent: curl_multi_init failed"));
      }
    }
    return out;
  }

  void CloseIdle() {
    {
      std::lock_guard lock(mu_);
      close_idle_ = true;
      if (driving_) return;  // the driver does it when it steps down with nothing running
      driving_ = true;
    }
    ReplaceMultiIfAsked();
    std::lock_guard lock(mu_);
    driving_ = false;
    turn_.notify_all();
  }

  // A body buffer for the next response: a recycled one when there is one.
  std::string TakeBuffer() {
    std::lock_guard lock(buffers_mu_);
    if (buffers_.empty()) return {};
    std::string b = std::move(buffers_.back());
    buffers_.pop_back();
    return b;
  }

  void Recycle(std::vector<Result<HttpResponse>>& responses) {
    std::lock_guard lock(buffers_mu_);
    for (auto& r : responses) {
      if (!r.ok() || buffers_.size() >= kMaxBuffers) continue;
      std::string& body = r.value().body;
      if (body.capacity() == 0 || body.capacity() > kMaxBufferBytes) continue;
      body.clear();
      buffers_.push_back(std::move(body));
    }
    responses.clear();
  }

 private:
  struct Batch;
  struct Job {
    Batch* batch = nullptr;
    size_t index = 0;
    const std::string* url = nullptr;
    CURL* easy = nullptr;
    Transfer t;
  };
  struct Batch {
    const HttpRequestOptions* options = nullptr;
    const std::string* authorization = nullptr;
    std::vector<Job> jobs;
    std::vector<std::optional<Result<HttpResponse>>> results;  // guarded by mu_
    size_t remaining = 0;                                      // guarded by mu_
  };

  // Recycled bodies kept: enough for a few groups' cycles, none above 1 MiB, so the list costs
  // at most a few MiB.
  static constexpr size_t kMaxBuffers = 64;
  static constexpr size_t kMaxBufferBytes = 1u << 20;
  // Free easy handles kept beyond that are cleaned up: a handle holds its receive buffer.
  static constexpr size_t kMaxIdleHandles = 16;
  // libcurl's receive buffer per transfer. Its default, 16 KiB, takes a dozen recv() calls
  // and as many rounds of the transfer loop for a 190 KB body; 256 KiB halves the CPU of that
  // fetch (bench/collect per-scrape mode: about 76 -> 40 us). Only the pages a body fills are
  // touched, and idle handles are capped above.
  static constexpr long kReceiveBufferBytes = 256L << 10;

  CURLM* NewMulti() const {
    CURLM* m = curl_multi_init();
    if (m != nullptr && max_idle_connections_ > 0) {
      curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, static_cast<long>(max_idle_connections_));
    }
    return m;
  }

  void Complete(Job* j, Result<HttpResponse> r) {
    std::lock_guard lock(mu_);
    j->batch->results[j->index] = std::move(r);
    if (--j->batch->remaining == 0) turn_.notify_all();
  }

  // Driver only.
  void Start(Job* j) {
    CURL* e = nullptr;
    if (!idle_handles_.empty()) {
      e = idle_handles_.back();
      idle_handles_.pop_back();
    } else {
      e = curl_easy_init();
    }
    if (e == nullptr) {
      Complete(j, Internal("curl_easy_init failed"));
      return;
    }
    j->easy = e;
    j->t.resp.body = TakeBuffer();
    Configure(e, *j->url, *j->batch->options, *j->batch->authorization, &j->t);
    if (max_idle_connections_ == 0) curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
    // libcurl walks its whole DNS cache after every transfer to prune it, and the shared multi
    // handle's cache would hold an entry per pod host:port (1,000 pods: 1,000 entries walked
    // per scrape, a third of the CPU of a 1-pod-per-group run). With a timeout of 0 an entry
    // lives only while a transfer uses it. Pod URLs carry IP addresses (discovery resolves
    // names itself), and a reused connection needs no lookup, so nothing is resolved twice.
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(multi_, e) != CURLM_OK) {
      curl_slist_free_all(j->t.headers);
      Release(e);
      Complete(j, Internal("curl_multi_add_handle failed"));
      return;
    }
    ++running_;
  }

  // Driver only. CloseIdle(): with no transfer in flight, a fresh multi handle takes the place
  // of the old one, whose cleanup (outside mu_) closes every cached connection; spare handles
  // and buffers go too. libcurl has no call to close the idle connections of a multi handle.
  void ReplaceMultiIfAsked() {
    CURLM* old = nullptr;
    {
      std::lock_guard lock(mu_);
      if (!close_idle_ || running_ > 0 || !submitted_.empty()) return;
      close_idle_ = false;
      CURLM* fresh = NewMulti();
      if (fresh == nullptr) return;
      old = multi_;
      multi_ = fresh;  // replaced under mu_: callers wake the driver through it under mu_
    }
    curl_multi_cleanup(old);
    for (CURL* e : idle_handles_) curl_easy_cleanup(e);
    idle_handles_.clear();
    std::vector<std::string> spare;
    {
      std::lock_guard lock(buffers_mu_);
      spare.swap(buffers_);
    }
  }

  // Driver only.
  void Release(CURL* e) {
    if (idle_handles_.size() < kMaxIdleHandles) {
      idle_handles_.push_back(e);
    } else {
      curl_easy_cleanup(e);
    }
  }

  // Runs every transfer (queued or running, anyone's) until `own` is done.
  void Drive(const Batch& own) {
    std::vector<Job*> fresh;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (own.remaining == 0) break;
        fresh.swap(submitted_);
      }
      for (Job* j : fresh) Start(j);
      fresh.clear();
      int running = 0;
      curl_multi_perform(multi_, &running);
      int msgs = 0;
      while (CURLMsg* m = curl_multi_info_read(multi_, &msgs)) {
        if (m->msg != CURLMSG_DONE) continue;
        Job* j = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &j);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(multi_, j->easy);
        --running_;
        auto result = Finish(rc, *j->url, &j->t);
        Release(j->easy);
        Complete(j, std::move(result));
      }
      {
        std::lock_guard lock(mu_);
        if (own.remaining == 0) break;
      }
      // Returns early on socket activity, on a curl timeout and on curl_multi_wakeup().
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    if (running_ == 0) ReplaceMultiIfAsked();
  }

  const size_t max_idle_connections_;
  std::mutex mu_;                 // guards submitted_, driving_, close_idle_, multi_ (the pointer) and batches' results
  std::condition_variable turn_;  // a batch finished or the driver stepped down
  std::vector<Job*> submitted_;
  bool driving_ = false;
  bool close_idle_ = false;
  // The driver's (handed over with driving_ under mu_):
  CURLM* multi_ = nullptr;
  size_t running_ = 0;
  std::vector<CURL*> idle_handles_;
  std::mutex buffers_mu_;
  std::vector<std::string> buffers_;  // guarded by buffers_mu_
};

// A pool of one easy and one multi handle, for a stream: destroyed easy first, then the multi
// handle (which closes the connection).
struct CurlPool final : public ConnectionPool {
  CURLM* multi = curl_multi_init();
  std::vector<std::unique_ptr<EasyHandle>> handles;
  ~CurlPool() override {
    handles.clear();
    curl_multi_cleanup(multi);
  }
};

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(const CurlClientOptions& options) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    transfers_ = std::make_unique<SharedTransfers>(options.max_idle_connections);
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

  std::vector<Result<HttpResponse>> GetAll(const std::vector<std::string>& urls, const HttpRequestOptions& options,
                                           ConnectionPool* /*pool: one shared cache instead*/) override {
    if (urls.empty()) return {};
    auto authorization = AuthorizationHeader(options);  // read once for the whole batch
    if (!authorization.ok()) {
      std::vector<Result<HttpResponse>> failed;
      for (const auto& u : urls) failed.push_back(NotSent(u, authorization.status()));
      return failed;
    }
    return transfers_->Run(urls, options, *authorization);
  }

  void Recycle(std::vector<Result<HttpResponse>>& responses) override { transfers_->Recycle(responses); }
  void CloseIdleConnections() override { transfers_->CloseIdle(); }

 private:
  std::unique_ptr<SharedTransfers> transfers_;
};

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient(CurlClientOptions options) {
  return std::make_unique<CurlHttpClient>(options);
}

}  // namespace nimscaler::net
