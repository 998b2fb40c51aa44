// Exports PrometheusQuerySource. nlohmann_json stays in this file.
#include "scaler/sources/prometheus_query_source.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "scaler/common/text.h"

namespace nimscaler::sources {

namespace {

double SampleValue(const nlohmann::json& v) {
  // [ <unix time>, "<value>" ]
  if (!v.is_array() || v.size() != 2 || !v[1].is_string()) return NAN;
  const std::string s = v[1].get<std::string>();
  if (s == "NaN") return NAN;
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  return ParseDouble(s).value_or(NAN);
}
}  // namespace

PrometheusQuerySource::PrometheusQuerySource(std::string address, std::string query,
                                             std::shared_ptr<net::HttpClient> http)
    : http_(std::move(http)) {
  while (!address.empty() && address.back() == '/') address.pop_back();
  url_ = address + "/api/v1/query?query=" + UrlEncode(query);
}

Result<double> PrometheusQuerySource::Decode(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Unavailable("wakeQuery: Prometheus answered something that is not JSON: " + Truncate(body, 100));
  }
  if (doc.value("status", "") != "success") {
    return Unavailable("wakeQuery: Prometheus error (" + doc.value("errorType", std::string("unknown")) +
                       "): " + doc.value("error", std::string()));
  }
  const auto& data = doc["data"];
  std::string type = data.value("resultType", "");
  if (type == "scalar") {
    double v = SampleValue(data["result"]);
    return std::isnan(v) ? 0.0 : v;
  }
  if (type == "vector") {
    double sum = 0;
    for (const auto& s : data["result"]) {
      double v = SampleValue(s["value"]);
      if (!std::isnan(v)) sum += v;
    }
    return sum;
  }
  return Unavailable("wakeQuery: expected an instant vector or scalar, got a " + type +
                     " (drop the range selector, e.g. use sum(rate(x[1m])))");
}

Result<double> PrometheusQuerySource::Evaluate() const {
  net::HttpRequestOptions o;
  o.accept = "application/json";
  o.timeout = std::chrono::seconds(5);
  auto r = http_->Get(url_, o);
  if (!r.ok()) return Unavailable("wakeQuery: " + r.status().message());
  if (r->status != 200 && r->status != 400 && r->status != 422) {
    return Unavailable("wakeQuery: Prometheus returned HTTP " + std::to_string(r->status) + ": " +
                       Truncate(Trim(r->body), 100));
  }
  return Decode(r->body);
}

}  // namespace nimscaler::sources
