#pragma once
// URL credentials: a URL that carries userinfo ("http://user:pw@host/...") is split into the
// URL without it (safe to store, log, show in /debug and in gRPC errors) and the credentials,
// which travel separately in HttpRequestOptions (sent as HTTP basic auth). RedactUrl() is the
// one function that removes userinfo from any text meant to be shown.

#include <string>
#include <string_view>

namespace nimscaler::net {

/// `url` without its userinfo: "http://user:pw@pod:8000/m" -> "http://pod:8000/m". Works on
/// text that is not a valid URL too (an '@' in the authority part is cut up to and including
/// the last one), so error messages can echo a rejected URL safely.
std::string RedactUrl(std::string_view url);

/// Percent-decodes `s` ("%41" -> "A", "%00" -> a NUL byte); a '%' not followed by two hex
/// digits is kept as it is.
std::string PercentDecode(std::string_view s);

/// A URL split into the part that may be shown and its credentials (percent-decoded).
struct UrlWithCredentials {
  std::string url;  ///< the URL without userinfo
  bool has_credentials = false;
  std::string username;  ///< decoded; may be empty ("http://:token@host")
  std::string password;  ///< decoded; empty when the userinfo has no ':'
};

/// Splits `url` as described above; has_credentials is false when there is no userinfo
/// (an empty one, "http://@host", counts as none).
UrlWithCredentials SplitCredentials(std::string_view url);

}  // namespace nimscaler::net
