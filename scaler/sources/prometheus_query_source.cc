// Exports PrometheusQuerySource. nlohmann_json stays in this file. The document's shape is
// checked before every use, so no body can make it throw.
#include "scaler/sources/prometheus_query_source.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "scaler/common/text.h"
#include "scaler/net/url.h"

namespace nimscaler::sources {

namespace {

using Json = nlohmann::json;

double SampleValue(const Json& v) {
  // [ <unix time>, "<value>" ]
  if (!v.is_array() || v.size() != 2 || !v[1].is_string()) return NAN;
  const std::string& s = v[1].get_ref<const std::string&>();
  if (s == "NaN") return NAN;
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  return ParseDouble(s).value_or(NAN);
}

// The string member `key` of object `o`, or "" when absent or not a string.
std::string StringMember(const Json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// At most `max` bytes of `s`, cut at a UTF-8 character boundary, control bytes as '?'.
std::string Shorten(const std::string& s, size_t max) {
  size_t n = std::min(s.size(), max);
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  std::string out = s.substr(0, n);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return n < s.size() ? out + "..." : out;
}

constexpr size_t kMaxVectorSamples = 100000;  // a wake query sums a handful of series

}  // namespace

PrometheusQuerySource::PrometheusQuerySource(std::string address, std::string query,
                                             std::shared_ptr<net::HttpClient> http)
    : PrometheusQuerySource(std::move(address), std::move(query), std::move(http),
                            net::HttpRequestOptions{.timeout = std::chrono::seconds(5)}) {}

PrometheusQuerySource::PrometheusQuerySource(std::string address, std::string query,
                                             std::shared_ptr<net::HttpClient> http, net::HttpRequestOptions options)
    : http_(std::move(http)), options_(std::move(options)) {
  net::UrlWithCredentials split = net::SplitCredentials(address);
  if (split.has_credentials && !options_.basic_auth) {
    options_.basic_auth = true;
    options_.username = split.username;
    options_.password = split.password;
  }
  address = split.url;
  while (!address.empty() && address.back() == '/') address.pop_back();
  url_ = address + "/api/v1/query?query=" + UrlEncode(query);
  options_.accept = "application/json";
}

Result<double> PrometheusQuerySource::Decode(std::string_view body) {
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Unavailable("wakeQuery: Prometheus answered something that is not a JSON object (" +
                       std::to_string(body.size()) + " bytes)");
  }
  std::string status = StringMember(doc, "status");
  if (status != "success") {
    std::string type = StringMember(doc, "errorType");
    std::string error = StringMember(doc, "error");
    if (status == "error" && !error.empty()) {
      return Unavailable("wakeQuery: Prometheus error (" + Shorten(type.empty() ? "unknown" : type, 40) +
                         "): " + Shorten(error, 300));
    }
    return Unavailable("wakeQuery: the answer is not a Prometheus query response (no \"status\": \"success\"; " +
                       std::to_string(body.size()) + " bytes)");
  }
  auto data = doc.find("data");
  if (data == doc.end() || !data->is_object()) {
    return Unavailable("wakeQuery: Prometheus answered success without a \"data\" object");
  }
  std::string type = StringMember(*data, "resultType");
  auto result = data->find("result");
  if (type == "scalar") {
    if (result == data->end()) return Unavailable("wakeQuery: a scalar answer without \"result\"");
    double v = SampleValue(*result);
    return std::isnan(v) ? 0.0 : v;
  }
  if (type == "vector") {
    if (result == data->end() || !result->is_array()) {
      return Unavailable("wakeQuery: a vector answer whose \"result\" is not a list");
    }
    if (result->size() > kMaxVectorSamples) {
      return Unavailable("wakeQuery: the query returned " + std::to_string(result->size()) +
                         " series; aggregate it (e.g. sum(...)) to a few");
    }
    double sum = 0;
    for (const auto& s : *result) {
      if (!s.is_object()) continue;
      auto value = s.find("value");
      if (value == s.end()) continue;
      double v = SampleValue(*value);
      if (!std::isnan(v)) sum += v;
    }
    return sum;
  }
  if (type == "matrix") {
    return Unavailable(
        "wakeQuery: expected an instant vector or scalar, got a matrix "
        "(drop the range selector, e.g. use sum(rate(x[1m])))");
  }
  return Unavailable("wakeQuery: expected an instant vector or scalar, got resultType \"" + Shorten(type, 20) + "\"");
}

Result<double> PrometheusQuerySource::Evaluate() const {
  auto r = http_->Get(url_, options_);
  if (!r.ok()) return Unavailable("wakeQuery: " + r.status().message());
  if (r->status == 401 || r->status == 403) {
    // Say which credentials were sent (never their value): the usual fix is the server's flags.
    std::string sent = !options_.bearer_token_file.empty()
                           ? "the bearer token from \"" + options_.bearer_token_file + "\" was refused"
                       : options_.basic_auth
                           ? "the basic-auth credentials of prometheusAddress were refused"
                           : "no credentials were sent (the server sends --prometheus-bearer-token-file's token only "
                             "to --prometheus-url and the addresses listed in --prometheus-allow)";
    return Unavailable("wakeQuery: Prometheus returned HTTP " + std::to_string(r->status) +
                       (r->status == 401 ? " Unauthorized" : " Forbidden") + ": " + sent);
  }
  if (r->status != 200 && r->status != 400 && r->status != 422) {
    return Unavailable("wakeQuery: Prometheus returned HTTP " + std::to_string(r->status) + " (" +
                       std::to_string(r->body.size()) + " bytes)");
  }
  return Decode(r->body);
}

}  // namespace nimscaler::sources
