// Exports MakeCurlHttpClient(): HttpClient over libcurl's easy interface. Each calling
// thread keeps one easy handle so connections to pods are reused between scrapes.
#include <curl/curl.h>

#include <mutex>

#include "scaler/net/http_client.h"

namespace nimscaler::net {
namespace {

struct BodySink {
  std::string* body;
  size_t cap;
  bool overflow = false;
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  size_t n = size * nmemb;
  if (sink->body->size() + n > sink->cap) {
    sink->overflow = true;
    return 0;  // makes curl abort the transfer with CURLE_WRITE_ERROR
  }
  sink->body->append(data, n);
  return n;
}

struct EasyHandle {
  CURL* curl = curl_easy_init();
  ~EasyHandle() { curl_easy_cleanup(curl); }
};

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Result<HttpResponse> Get(const std::string& url, const HttpRequestOptions& options) override {
    thread_local EasyHandle handle;
    CURL* c = handle.curl;
    if (c == nullptr) return Internal("curl_easy_init failed");
    curl_easy_reset(c);
    HttpResponse resp;
    BodySink sink{&resp.body, options.max_body_bytes};
    char errbuf[CURL_ERROR_SIZE] = {0};
    std::string accept = "Accept: " + options.accept;
    curl_slist* headers = curl_slist_append(nullptr, accept.c_str());
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate if the pod offers it
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "nim-scaler");
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (sink.overflow) {
      return Unavailable("response from " + url + " exceeds the " +
                         std::to_string(options.max_body_bytes) + "-byte limit");
    }
    if (rc != CURLE_OK) {
      std::string why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
      return Unavailable("GET " + url + " failed: " + why);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    char* ct = nullptr;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != nullptr) resp.content_type = ct;
    return resp;
  }
};

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

}  // namespace nimscaler::net
