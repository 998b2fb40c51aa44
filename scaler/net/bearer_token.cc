// Exports ReadBearerToken().
#include "scaler/net/bearer_token.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "scaler/common/text.h"

namespace nimscaler::net {

Result<std::string> ReadBearerToken(const std::string& path) {
  constexpr size_t kMaxTokenBytes = 64u << 10;  // a service-account JWT is a few KiB
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unavailable("cannot read bearer token file \"" + path + "\": " + std::strerror(errno));
  std::string raw(kMaxTokenBytes + 1, '\0');
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  if (in.bad()) return Unavailable("cannot read bearer token file \"" + path + "\" (is it a directory?)");
  raw.resize(static_cast<size_t>(in.gcount()));
  if (raw.size() > kMaxTokenBytes) {
    return Unavailable("bearer token file \"" + path + "\" is larger than " + std::to_string(kMaxTokenBytes) +
                       " bytes");
  }
  std::string token(Trim(raw));
  if (token.empty()) return Unavailable("bearer token file \"" + path + "\" is empty");
  for (char c : token) {
    if (c <= 0x20 || c >= 0x7f) {
      return Unavailable("bearer token file \"" + path +
                         "\" does not hold one token: after trimming, "
                         "it must be printable ASCII without spaces or line breaks");
    }
  }
  return token;
}

}  // namespace nimscaler::net
