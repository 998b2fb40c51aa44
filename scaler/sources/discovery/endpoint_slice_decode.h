#pragma once
// Decoding of what the Kubernetes API sends about EndpointSlices (discovery.k8s.io/v1): an
// EndpointSliceList (the answer to a list) and one watch event line. Every document is
// external input: its shape is checked field by field, sizes are bounded, and a bad document
// is an error value naming where it is wrong ("EndpointSliceList item 3: 'endpoints' is not
// an array"). Nothing here throws. nlohmann_json stays inside the .cc file.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/result.h"

namespace nimscaler::sources {

/// One endpoint (pod address) of an EndpointSlice.
struct SliceEndpoint {
  std::string address;
  std::string pod;  ///< targetRef.name, may be empty
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::map<std::string, int> ports;  ///< port name ("" for unnamed) -> number, from the slice
};

/// One EndpointSlice.
struct DecodedSlice {
  std::string name;
  std::string resource_version;
  std::vector<SliceEndpoint> endpoints;
};

struct DecodedSliceList {
  std::string resource_version;
  std::vector<DecodedSlice> items;
};

/// One line of a watch.
struct DecodedWatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kBookmark;
  DecodedSlice slice;         ///< kAdded/kModified/kDeleted: the slice; kBookmark: only resource_version
  int error_code = 0;         ///< kError: the Status object's code (410: resourceVersion too old)
  std::string error_message;  ///< kError: the Status object's message (printable, bounded)
};

/// Bounds on a decoded document. The defaults are far above what a real Service has (the API
/// caps a slice at 1,000 endpoints, 100 addresses each, 100 ports) and keep a hostile or
/// broken API server from making us allocate without limit.
struct SliceDecodeLimits {
  size_t max_document_bytes = 64u << 20;
  size_t max_depth = 64;  ///< nesting of arrays and objects (checked before parsing)
  /// Arrays, objects and members in the whole document, counted before parsing, so a body of
  /// millions of tiny values is refused before it is built in memory (~15 per endpoint).
  size_t max_json_values = 2000000;
  size_t max_items = 10000;
  size_t max_endpoints_per_slice = 1000;
  size_t max_addresses_per_endpoint = 100;
  size_t max_ports_per_slice = 100;
  size_t max_total_endpoints = 100000;
  size_t max_string_bytes = 512;  ///< names, addresses, resourceVersions
};

/// Decodes a list answer. INVALID_ARGUMENT with the path of the first problem.
Result<DecodedSliceList> DecodeEndpointSliceList(std::string_view body, const SliceDecodeLimits& limits = {});

/// Decodes one watch event line (the JSON object, without its newline).
Result<DecodedWatchEvent> DecodeWatchEvent(std::string_view line, const SliceDecodeLimits& limits = {});

/// `text` cut to `max` bytes with every byte outside printable ASCII replaced by '?': safe to
/// put in a log line, a gRPC error or JSON whatever the API server sent.
std::string PrintableSnippet(std::string_view text, size_t max = 200);

}  // namespace nimscaler::sources
