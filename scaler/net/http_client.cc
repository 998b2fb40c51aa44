// Exports OptionsKey() (http_client.h).
#include "scaler/net/http_client.h"

#include "scaler/common/text.h"

namespace nimscaler::net {

std::string OptionsKey(const HttpRequestOptions& o) {
  // Every member, by name: a field added to HttpRequestOptions stops this binding from compiling
  // until it is put in the key (or said to be per call, like `cancel`). Otherwise two collection
  // groups that differ only in it would share responses, and with them credentials (issue 17).
  const auto& [timeout, max_body_bytes, accept, headers, ca_file, bearer_token_file, insecure_skip_verify, cancel,
               basic_auth, username, password, refuse_internal_addresses] = o;
  (void)cancel;  // per call: which transfer to abort, not what is fetched
  std::string key;
  auto field = [&key](std::string_view v) { AppendKeyField(&key, v); };
  field(std::to_string(timeout.count()));
  field(std::to_string(max_body_bytes));
  field(accept);
  field(std::to_string(headers.size()));
  for (const auto& h : headers) field(h);
  field(ca_file);
  field(bearer_token_file);
  field(insecure_skip_verify ? "insecure" : "verify");
  field(basic_auth ? "basic" : "none");
  field(username);
  field(password);
  field(refuse_internal_addresses ? "refuse-internal" : "any-address");
  return key;
}

}  // namespace nimscaler::net
