// Exports DecodeEndpointSliceList(), DecodeWatchEvent() and PrintableSnippet().
#include "scaler/sources/discovery/endpoint_slice_decode.h"

#include <cstdint>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>

namespace nimscaler::sources {
namespace {

using nlohmann::json;

// A problem found while walking a document: where (a path such as "item 3: endpoint 0") and
// what. The first problem ends the walk.
class Walk {
 public:
  Walk(std::string doc, const SliceDecodeLimits& limits) : doc_(std::move(doc)), limits_(limits) {}

  bool failed() const { return !error_.empty(); }
  Status status() const { return InvalidArgument(error_); }
  const SliceDecodeLimits& limits() const { return limits_; }

  bool Fail(const std::string& where, const std::string& what) {
    if (error_.empty()) error_ = doc_ + (where.empty() ? "" : " " + where) + ": " + what;
    return false;
  }

  // An optional field: absent or null is nullptr; present with another type than `want` is an
  // error. `want` names the type for the message.
  const json* Field(const json& obj, const char* key, json::value_t want, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    bool ok =
        it->type() == want || (want == json::value_t::number_integer && it->type() == json::value_t::number_unsigned);
    if (!ok) {
      Fail(where, "'" + std::string(key) + "' is not " + TypeName(want));
      return nullptr;
    }
    return &*it;
  }

  // A string field within the length bound; absent or null is "".
  bool String(const json& obj, const char* key, const std::string& where, std::string* out, bool required = false) {
    const json* v = Field(obj, key, json::value_t::string, where);
    if (failed()) return false;
    if (v == nullptr) {
      if (required) return Fail(where, "'" + std::string(key) + "' is missing");
      out->clear();
      return true;
    }
    const std::string& s = *v->get_ptr<const std::string*>();
    if (s.size() > limits_.max_string_bytes) {
      return Fail(where,
                  "'" + std::string(key) + "' is longer than " + std::to_string(limits_.max_string_bytes) + " bytes");
    }
    *out = s;
    return true;
  }

  bool Bool(const json& obj, const char* key, const std::string& where, bool fallback, bool* out) {
    const json* v = Field(obj, key, json::value_t::boolean, where);
    if (failed()) return false;
    *out = v == nullptr ? fallback : v->get<bool>();
    return true;
  }

  // An array field no longer than `max`; absent or null is an empty array (the API writes
  // `null` for an empty list, e.g. a slice without endpoints).
  const json* Array(const json& obj, const char* key, const std::string& where, size_t max) {
    const json* v = Field(obj, key, json::value_t::array, where);
    if (v != nullptr && v->size() > max) {
      Fail(where, "'" + std::string(key) + "' has " + std::to_string(v->size()) + " entries (at most " +
                      std::to_string(max) + ")");
      return nullptr;
    }
    return v;
  }

  static const char* TypeName(json::value_t t) {
    switch (t) {
      case json::value_t::object: return "an object";
      case json::value_t::array: return "an array";
      case json::value_t::string: return "a string";
      case json::value_t::boolean: return "a boolean";
      case json::value_t::number_integer:
      case json::value_t::number_unsigned: return "an integer";
      default: return "of the expected type";
    }
  }

 private:
  std::string doc_;
  const SliceDecodeLimits& limits_;
  std::string error_;
};

// The shape of the raw text, before parsing (strings skipped): the deepest nesting of arrays
// and objects, and an upper bound on the number of values (every value but the first follows
// a comma or an opening bracket). A document nested thousands deep, or made of millions of
// tiny values, is refused before the parser builds it.
struct RawShape {
  size_t depth = 0;
  size_t values = 1;
};
RawShape ScanShape(std::string_view text) {
  RawShape shape;
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      shape.depth = std::max(shape.depth, ++depth);
      ++shape.values;
    } else if (c == ',') {
      ++shape.values;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return shape;
}

// Parses `text` as one JSON object; nullopt-like discarded value on any failure.
bool ParseObject(std::string_view text, Walk* w, json* out) {
  if (text.size() > w->limits().max_document_bytes) {
    return w->Fail("", "larger than " + std::to_string(w->limits().max_document_bytes) + " bytes");
  }
  RawShape shape = ScanShape(text);
  if (shape.depth > w->limits().max_depth) {
    return w->Fail("", "nested deeper than " + std::to_string(w->limits().max_depth) + " levels");
  }
  if (shape.values > w->limits().max_json_values) {
    return w->Fail("", "has more than " + std::to_string(w->limits().max_json_values) + " JSON values");
  }
  *out = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return w->Fail("", "not valid JSON");
  if (!out->is_object()) return w->Fail("", "not a JSON object");
  return true;
}

// One EndpointSlice. Conditions per the v1 API: a missing `ready` means true, a missing
// `serving` means the value of `ready`, a missing `terminating` means false. A port without
// a number ("all ports") is skipped.
bool DecodeSlice(const json& slice, const std::string& where, Walk* w, size_t* total_endpoints, DecodedSlice* out) {
  const auto& lim = w->limits();
  if (!slice.is_object()) return w->Fail(where, "is not an object");
  const json* meta = w->Field(slice, "metadata", json::value_t::object, where);
  if (w->failed()) return false;
  if (meta == nullptr) return w->Fail(where, "'metadata' is missing");
  if (!w->String(*meta, "name", where + " metadata", &out->name, /*required=*/true)) return false;
  if (!w->String(*meta, "resourceVersion", where + " metadata", &out->resource_version)) return false;

  std::map<std::string, int> ports;
  const json* port_list = w->Array(slice, "ports", where, lim.max_ports_per_slice);
  if (w->failed()) return false;
  if (port_list != nullptr) {
    for (size_t i = 0; i < port_list->size(); ++i) {
      const json& p = (*port_list)[i];
      std::string at = where + " port " + std::to_string(i);
      if (!p.is_object()) return w->Fail(at, "is not an object");
      std::string name;
      if (!w->String(p, "name", at, &name)) return false;
      const json* number = w->Field(p, "port", json::value_t::number_integer, at);
      if (w->failed()) return false;
      if (number == nullptr) continue;
      bool in_range = number->is_number_unsigned() ? number->get<uint64_t>() <= 65535
                                                   : number->get<int64_t>() >= 0 && number->get<int64_t>() <= 65535;
      if (!in_range) return w->Fail(at, "'port' is outside 0-65535");
      ports[name] = static_cast<int>(number->get<int64_t>());
    }
  }

  const json* endpoints = w->Array(slice, "endpoints", where, lim.max_endpoints_per_slice);
  if (w->failed()) return false;
  if (endpoints == nullptr) return true;
  for (size_t i = 0; i < endpoints->size(); ++i) {
    const json& ep = (*endpoints)[i];
    std::string at = where + " endpoint " + std::to_string(i);
    if (!ep.is_object()) return w->Fail(at, "is not an object");
    SliceEndpoint base;
    base.ports = ports;
    const json* conditions = w->Field(ep, "conditions", json::value_t::object, at);
    if (w->failed()) return false;
    if (conditions != nullptr) {
      if (!w->Bool(*conditions, "ready", at + " conditions", true, &base.ready)) return false;
      if (!w->Bool(*conditions, "serving", at + " conditions", base.ready, &base.serving)) return false;
      if (!w->Bool(*conditions, "terminating", at + " conditions", false, &base.terminating)) return false;
    }
    const json* target = w->Field(ep, "targetRef", json::value_t::object, at);
    if (w->failed()) return false;
    if (target != nullptr && !w->String(*target, "name", at + " targetRef", &base.pod)) return false;
    const json* addresses = w->Array(ep, "addresses", at, lim.max_addresses_per_endpoint);
    if (w->failed()) return false;
    if (addresses == nullptr) return w->Fail(at, "'addresses' is missing");
    for (size_t j = 0; j < addresses->size(); ++j) {
      const json& a = (*addresses)[j];
      std::string aat = at + " address " + std::to_string(j);
      if (!a.is_string()) return w->Fail(aat, "is not a string");
      const std::string& s = *a.get_ptr<const std::string*>();
      if (s.empty() || s.size() > lim.max_string_bytes) return w->Fail(aat, "is empty or too long");
      if (++*total_endpoints > lim.max_total_endpoints) {
        return w->Fail("", "more than " + std::to_string(lim.max_total_endpoints) + " endpoints in all");
      }
      SliceEndpoint e = base;
      e.address = s;
      out->endpoints.push_back(std::move(e));
    }
  }
  return true;
}

Result<DecodedSliceList> DecodeListImpl(std::string_view body, const SliceDecodeLimits& limits) {
  Walk w("EndpointSliceList", limits);
  json doc;
  if (!ParseObject(body, &w, &doc)) return w.status();
  const json* meta = w.Field(doc, "metadata", json::value_t::object, "");
  if (w.failed()) return w.status();
  if (meta == nullptr) {
    w.Fail("", "'metadata' is missing");
    return w.status();
  }
  DecodedSliceList out;
  if (!w.String(*meta, "resourceVersion", "metadata", &out.resource_version)) return w.status();
  const json* items = w.Array(doc, "items", "", limits.max_items);
  if (w.failed()) return w.status();
  if (items == nullptr) return out;
  size_t total = 0;
  out.items.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    DecodedSlice slice;
    if (!DecodeSlice((*items)[i], "item " + std::to_string(i), &w, &total, &slice)) return w.status();
    out.items.push_back(std::move(slice));
  }
  return out;
}

Result<DecodedWatchEvent> DecodeEventImpl(std::string_view line, const SliceDecodeLimits& limits) {
  Walk w("watch event", limits);
  json ev;
  if (!ParseObject(line, &w, &ev)) return w.status();
  std::string type;
  if (!w.String(ev, "type", "", &type, /*required=*/true)) return w.status();
  if (type != "ADDED" && type != "MODIFIED" && type != "DELETED" && type != "BOOKMARK" && type != "ERROR") {
    w.Fail("", "unknown type \"" + PrintableSnippet(type, 40) + "\"");
    return w.status();
  }
  const json* obj = w.Field(ev, "object", json::value_t::object, type);
  if (w.failed()) return w.status();
  if (obj == nullptr) {
    w.Fail(type, "'object' is missing");
    return w.status();
  }
  DecodedWatchEvent out;
  if (type == "ERROR") {
    out.type = DecodedWatchEvent::Type::kError;
    const json* code = w.Field(*obj, "code", json::value_t::number_integer, type);
    if (w.failed()) return w.status();
    if (code != nullptr) {
      bool small = code->is_number_unsigned() ? code->get<uint64_t>() <= 999
                                              : code->get<int64_t>() >= 0 && code->get<int64_t>() <= 999;
      out.error_code = small ? static_cast<int>(code->get<int64_t>()) : 0;
    }
    const json* message = w.Field(*obj, "message", json::value_t::string, type);
    if (w.failed()) return w.status();
    out.error_message = message == nullptr ? "unknown" : PrintableSnippet(*message->get_ptr<const std::string*>());
    return out;
  }
  if (type == "BOOKMARK") {
    out.type = DecodedWatchEvent::Type::kBookmark;
    const json* meta = w.Field(*obj, "metadata", json::value_t::object, type);
    if (w.failed()) return w.status();
    if (meta != nullptr && !w.String(*meta, "resourceVersion", "BOOKMARK metadata", &out.slice.resource_version)) {
      return w.status();
    }
    return out;
  }
  if (type == "ADDED")
    out.type = DecodedWatchEvent::Type::kAdded;
  else if (type == "MODIFIED")
    out.type = DecodedWatchEvent::Type::kModified;
  else
    out.type = DecodedWatchEvent::Type::kDeleted;
  size_t total = 0;
  if (!DecodeSlice(*obj, type + " object", &w, &total, &out.slice)) return w.status();
  return out;
}

}  // namespace

std::string PrintableSnippet(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max) + 3);
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (text.size() > max) out += "...";
  return out;
}

// The walkers only use non-throwing accessors after checking types; the catch is a last
// guard (e.g. std::bad_alloc) so that no exception leaves this module.
Result<DecodedSliceList> DecodeEndpointSliceList(std::string_view body, const SliceDecodeLimits& limits) {
  try {
    return DecodeListImpl(body, limits);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("EndpointSliceList: cannot decode: ") + e.what());
  }
}

Result<DecodedWatchEvent> DecodeWatchEvent(std::string_view line, const SliceDecodeLimits& limits) {
  try {
    return DecodeEventImpl(line, limits);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("watch event: cannot decode: ") + e.what());
  }
}

}  // namespace nimscaler::sources
