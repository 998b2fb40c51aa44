// libFuzzer target for trigger metadata (issue 19 item 10): any metadata map, under any
// server policy, gives BuildScalerSpec() a spec or an INVALID_ARGUMENT error, never a crash,
// an exception or a sanitizer report. It also checks the promises around that result: a
// bounded message (config::JoinProblems), no userinfo in any stored URL, and the address rule
// set for dnsName without --allow-static-endpoints. Built and run by scripts/fuzz-metadata.sh.
//
// Input: byte 0 picks the server policy; the rest is key \0 value \0 key \0 value ...
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "scaler/net/url.h"
#include "scaler/trigger/scaler_spec.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nimscaler;
  if (size == 0) return 0;
  const uint8_t policy = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  config::Metadata md;
  std::string key;
  bool want_key = true;
  while (!rest.empty()) {
    size_t end = rest.find('\0');
    std::string_view piece = rest.substr(0, end);
    if (want_key) {
      key = std::string(piece);
    } else {
      md[key] = std::string(piece);
    }
    want_key = !want_key;
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  if (!want_key) md[key] = "";

  trigger::SpecOptions options;
  options.allow_static_endpoints = (policy & 1) != 0;
  options.kube_enabled = (policy & 2) != 0;
  if (policy & 4) options.namespaces = {"nim"};
  options.min_scrape_interval = (policy & 8) ? std::chrono::milliseconds(100) : std::chrono::milliseconds(500);
  const std::string ns = (policy & 16) ? "nim" : "other";

  auto got = trigger::BuildScalerSpec(ns, "llama", md, options);
  if (!got.ok()) {
    Check(got.status().code() == Code::kInvalidArgument);
    Check(got.status().message().size() <= config::kMaxProblemsBytes + 3);
    Check(got.status().message().rfind("invalid trigger metadata", 0) == 0);
    return 0;
  }
  const trigger::ScalerSpec& s = **got;
  for (const auto& url : s.discovery.urls) Check(net::RedactUrl(url) == url);
  Check(net::RedactUrl(s.prometheus_address) == s.prometheus_address);
  Check(s.value != nullptr && s.activation != nullptr);
  if (s.discovery.kind == sources::DiscoveryConfig::Kind::kDns) {
    Check(s.scrape.http.refuse_internal_addresses == !options.allow_static_endpoints);
  }
  Check(!s.metric_name.empty() && s.metric_name.size() <= 120);
  Check(trigger::CanonicalMetadata(md).size() >= md.size() * 4);
  return 0;
}
