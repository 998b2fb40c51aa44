// net::OptionsKey (issue 17): every request option that decides what a server answers or who may
// read the answer is in the key, so collection groups that differ in any of them never share
// responses.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "scaler/net/http_client.h"

namespace nimscaler::net {
namespace {

TEST(OptionsKey, EveryOptionChangesTheKey) {
  const HttpRequestOptions base;
  const std::vector<std::pair<const char*, std::function<void(HttpRequestOptions&)>>> changes = {
      {"timeout", [](auto& o) { o.timeout = std::chrono::milliseconds(1234); }},
      {"max_body_bytes", [](auto& o) { o.max_body_bytes = 1; }},
      {"accept", [](auto& o) { o.accept = "text/plain"; }},
      {"headers", [](auto& o) { o.headers = {"X-Tenant: a"}; }},
      {"ca_file", [](auto& o) { o.ca_file = "/ca.pem"; }},
      {"bearer_token_file", [](auto& o) { o.bearer_token_file = "/token"; }},
      {"insecure_skip_verify", [](auto& o) { o.insecure_skip_verify = true; }},
      {"basic_auth", [](auto& o) { o.basic_auth = true; }},
      {"username", [](auto& o) { o.username = "alice"; }},
      {"password", [](auto& o) { o.password = "s3cret"; }},
      {"refuse_internal_addresses", [](auto& o) { o.refuse_internal_addresses = true; }},
  };
  std::vector<std::string> keys = {OptionsKey(base)};
  for (const auto& [name, change] : changes) {
    HttpRequestOptions o = base;
    change(o);
    std::string key = OptionsKey(o);
    for (const auto& other : keys) EXPECT_NE(key, other) << name;
    keys.push_back(key);
  }
}

TEST(OptionsKey, ValuesCannotImitateAnotherSplit) {
  HttpRequestOptions a, b;
  a.headers = {"X: 1", "Y: 2"};
  b.headers = {"X: 1Y: 2"};
  EXPECT_NE(OptionsKey(a), OptionsKey(b));
  a = b = HttpRequestOptions{};
  a.username = "al";
  a.password = "ice";
  b.username = "alice";
  EXPECT_NE(OptionsKey(a), OptionsKey(b));
}

TEST(OptionsKey, ThePerCallCancelFlagIsNotAnOption) {
  std::atomic<bool> cancel{false};
  HttpRequestOptions a, b;
  b.cancel = &cancel;
  EXPECT_EQ(OptionsKey(a), OptionsKey(b));
}

}  // namespace
}  // namespace nimscaler::net
