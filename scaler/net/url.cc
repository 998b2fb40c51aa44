// Exports RedactUrl() and SplitCredentials().
#include "scaler/net/url.h"

namespace nimscaler::net {

namespace {

// [begin, end) of the authority ("user:pw@host:port"), and the position of its last '@'
// (npos when none).
struct Authority {
  size_t begin = 0;
  size_t end = 0;
  size_t at = std::string_view::npos;
};

Authority FindAuthority(std::string_view url) {
  Authority a;
  size_t scheme = url.find("://");
  // "://" inside the path or query is not a scheme separator.
  if (scheme != std::string_view::npos && url.find_first_of("/?#") >= scheme) a.begin = scheme + 3;
  a.end = url.find_first_of("/?#", a.begin);
  if (a.end == std::string_view::npos) a.end = url.size();
  size_t at = url.substr(a.begin, a.end - a.begin).rfind('@');
  if (at != std::string_view::npos) a.at = a.begin + at;
  return a;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string RedactUrl(std::string_view url) {
  Authority a = FindAuthority(url);
  if (a.at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, a.begin));
  out.append(url.substr(a.at + 1));
  return out;
}

UrlWithCredentials SplitCredentials(std::string_view url) {
  UrlWithCredentials out;
  Authority a = FindAuthority(url);
  out.url = RedactUrl(url);
  if (a.at == std::string_view::npos || a.at == a.begin) return out;
  std::string_view userinfo = url.substr(a.begin, a.at - a.begin);
  size_t colon = userinfo.find(':');
  out.has_credentials = true;
  out.username = PercentDecode(userinfo.substr(0, colon));
  if (colon != std::string_view::npos) out.password = PercentDecode(userinfo.substr(colon + 1));
  return out;
}

}  // namespace nimscaler::net
