// libFuzzer target for the EndpointSlice decoder (scaler/sources/discovery/endpoint_slice_decode.h):
// any bytes, as a list body or as a watch event line, give a value or an error value (never
// an exception, a crash or a sanitizer report), and a decoded value respects the limits.
// Built and run by scripts/fuzz-endpoint-slice.sh (issue 19 item 3).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "scaler/sources/discovery/endpoint_slice_decode.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nimscaler::sources;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  SliceDecodeLimits small;  // small limits reach the bound checks with short inputs
  small.max_items = 4;
  small.max_endpoints_per_slice = 3;
  small.max_addresses_per_endpoint = 3;
  small.max_ports_per_slice = 3;
  small.max_total_endpoints = 6;
  small.max_string_bytes = 24;
  small.max_depth = 12;
  small.max_json_values = 200;
  for (const SliceDecodeLimits& limits : {SliceDecodeLimits{}, small}) {
    auto list = DecodeEndpointSliceList(text, limits);
    if (list.ok()) {
      Check(list->items.size() <= limits.max_items);
      size_t total = 0;
      for (const auto& item : list->items) {
        Check(item.name.size() <= limits.max_string_bytes);
        total += item.endpoints.size();
        for (const auto& e : item.endpoints) {
          Check(!e.address.empty() && e.address.size() <= limits.max_string_bytes);
          for (const auto& [name, port] : e.ports) Check(port >= 0 && port <= 65535);
        }
      }
      Check(total <= limits.max_total_endpoints);
    } else {
      Check(list.status().message().rfind("EndpointSliceList", 0) == 0);
    }
    auto ev = DecodeWatchEvent(text, limits);
    if (ev.ok()) {
      Check(ev->slice.endpoints.size() <= limits.max_total_endpoints);
      for (char c : ev->error_message) Check(c >= 0x20 && c < 0x7f);
    } else {
      Check(ev.status().message().rfind("watch event", 0) == 0);
    }
  }
  return 0;
}
