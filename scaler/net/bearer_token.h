#pragma once
// Bearer tokens read from a file (a Kubernetes projected token or a mounted Secret), for
// requests that carry `Authorization: Bearer <token>` (HttpRequestOptions::bearer_token_file).
// The file is read at every use, so a rotated token is picked up without a restart.

#include <string>

#include "scaler/common/result.h"

namespace nimscaler::net {

/// The token in `path`: its content without surrounding whitespace, which must be one run of
/// printable ASCII (no space, CR or LF: it goes into a header) of at most 64 KiB. Errors name
/// the path and what is wrong, never any of the file's content.
Result<std::string> ReadBearerToken(const std::string& path);

}  // namespace nimscaler::net
