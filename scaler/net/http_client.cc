// Exports OptionsKey() (http_client.h).
#include "scaler/net/http_client.h"

#include "scaler/common/text.h"

namespace nimscaler::net {

// A field added to HttpRequestOptions must be added here too (or said to be per call, like
// `cancel`): otherwise two collection groups that differ only in it would share responses, and
// with them credentials (issue 17). The size check makes the compiler ask.
#if defined(__x86_64__) && defined(__GLIBCXX__)
static_assert(sizeof(HttpRequestOptions) == 232,
              "HttpRequestOptions changed: add the new field to OptionsKey(), then update this size");
#endif

std::string OptionsKey(const HttpRequestOptions& o) {
  std::string key;
  auto field = [&key](std::string_view v) { AppendKeyField(&key, v); };
  field(std::to_string(o.timeout.count()));
  field(std::to_string(o.max_body_bytes));
  field(o.accept);
  field(std::to_string(o.headers.size()));
  for (const auto& h : o.headers) field(h);
  field(o.ca_file);
  field(o.bearer_token_file);
  field(o.insecure_skip_verify ? "insecure" : "verify");
  field(o.basic_auth ? "basic" : "none");
  field(o.username);
  field(o.password);
  field(o.refuse_internal_addresses ? "refuse-internal" : "any-address");
  return key;  // `cancel` is per call, not an option of what is fetched
}

}  // namespace nimscaler::net
