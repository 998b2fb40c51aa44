// The EndpointSlice decoder (scaler/sources/discovery/endpoint_slice_decode.h): every shape
// the API could send, well-formed or not, gives a value or an error naming where the document
// is wrong; nothing throws. Guards issue 19 item 3 (a malformed EndpointSliceList aborted the
// process from the watch thread).
#include "scaler/sources/discovery/endpoint_slice_decode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "scaler/sources/discovery/kube_api.h"

namespace nimscaler::sources {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Slice(const std::string& name, const std::string& ip, bool ready = true) {
  return {{"metadata", {{"name", name}, {"resourceVersion", "7"}}},
          {"addressType", "IPv4"},
          {"endpoints",
           {{{"addresses", {ip}},
             {"conditions", {{"ready", ready}}},
             {"targetRef", {{"kind", "Pod"}, {"name", "pod-" + name}}}}}},
          {"ports", {{{"name", "http"}, {"port", 8000}, {"protocol", "TCP"}}}}};
}

json List(std::vector<json> items) {
  return {{"kind", "EndpointSliceList"}, {"metadata", {{"resourceVersion", "42"}}}, {"items", items}};
}

std::string ListError(const json& doc, const SliceDecodeLimits& limits = {}) {
  auto r = DecodeEndpointSliceList(doc.dump(), limits);
  EXPECT_FALSE(r.ok()) << doc.dump();
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

TEST(EndpointSliceDecode, AWellFormedListWithTheApiDefaults) {
  json a = Slice("a", "10.0.0.1");
  a["endpoints"][0].erase("conditions");  // missing conditions: ready, serving, not terminating
  json b = Slice("b", "10.0.0.2", false);
  b["endpoints"][0]["conditions"]["terminating"] = true;
  json empty = Slice("c", "10.0.0.3");
  empty["endpoints"] = nullptr;  // what the API writes for a slice without endpoints
  empty["ports"] = nullptr;
  auto r = DecodeEndpointSliceList(List({a, b, empty}).dump());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->resource_version, "42");
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[0].name, "a");
  ASSERT_EQ(r->items[0].endpoints.size(), 1u);
  const SliceEndpoint& ea = r->items[0].endpoints[0];
  EXPECT_EQ(ea.address, "10.0.0.1");
  EXPECT_EQ(ea.pod, "pod-a");
  EXPECT_TRUE(ea.ready && ea.serving && !ea.terminating);
  EXPECT_EQ(ea.ports.at("http"), 8000);
  const SliceEndpoint& eb = r->items[1].endpoints[0];
  EXPECT_FALSE(eb.ready);
  EXPECT_FALSE(eb.serving);  // a missing `serving` follows `ready`
  EXPECT_TRUE(eb.terminating);
  EXPECT_TRUE(r->items[2].endpoints.empty());
  // `items: null` is an empty list; a port without a number ("all ports") is skipped.
  json nulls = List({});
  nulls["items"] = nullptr;
  EXPECT_TRUE(DecodeEndpointSliceList(nulls.dump()).ok());
  json allports = Slice("d", "10.0.0.4");
  allports["ports"][0].erase("port");
  auto d = DecodeEndpointSliceList(List({allports}).dump());
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_TRUE(d->items[0].endpoints[0].ports.empty());
}

TEST(EndpointSliceDecode, ShapeErrorsNameWhereTheDocumentIsWrong) {
  json good = List({Slice("a", "10.0.0.1"), Slice("b", "10.0.0.2"), Slice("c", "10.0.0.3"), Slice("d", "10.0.0.4")});
  json no_meta = good;
  no_meta.erase("metadata");
  EXPECT_EQ(ListError(no_meta), "EndpointSliceList: 'metadata' is missing");
  json meta_string = good;
  meta_string["metadata"] = "x";
  EXPECT_EQ(ListError(meta_string), "EndpointSliceList: 'metadata' is not an object");
  json items_object = good;
  items_object["items"] = json::object();
  EXPECT_EQ(ListError(items_object), "EndpointSliceList: 'items' is not an array");
  json item_number = good;
  item_number["items"][1] = 5;
  EXPECT_EQ(ListError(item_number), "EndpointSliceList item 1: is not an object");
  json endpoints_string = good;
  endpoints_string["items"][3]["endpoints"] = "10.0.0.4";
  EXPECT_EQ(ListError(endpoints_string), "EndpointSliceList item 3: 'endpoints' is not an array");
  json endpoint_string = good;
  endpoint_string["items"][0]["endpoints"][0] = "10.0.0.1";
  EXPECT_EQ(ListError(endpoint_string), "EndpointSliceList item 0 endpoint 0: is not an object");
  json item_no_meta = good;
  item_no_meta["items"][2].erase("metadata");
  EXPECT_EQ(ListError(item_no_meta), "EndpointSliceList item 2: 'metadata' is missing");
  json name_number = good;
  name_number["items"][0]["metadata"]["name"] = 12;
  EXPECT_EQ(ListError(name_number), "EndpointSliceList item 0 metadata: 'name' is not a string");
  json rv_number = good;
  rv_number["metadata"]["resourceVersion"] = 42;
  EXPECT_EQ(ListError(rv_number), "EndpointSliceList metadata: 'resourceVersion' is not a string");
  json address_number = good;
  address_number["items"][0]["endpoints"][0]["addresses"][0] = 10;
  EXPECT_EQ(ListError(address_number), "EndpointSliceList item 0 endpoint 0 address 0: is not a string");
  json no_addresses = good;
  no_addresses["items"][0]["endpoints"][0].erase("addresses");
  EXPECT_EQ(ListError(no_addresses), "EndpointSliceList item 0 endpoint 0: 'addresses' is missing");
  json ready_string = good;
  ready_string["items"][1]["endpoints"][0]["conditions"]["ready"] = "true";
  EXPECT_EQ(ListError(ready_string), "EndpointSliceList item 1 endpoint 0 conditions: 'ready' is not a boolean");
  json conditions_array = good;
  conditions_array["items"][1]["endpoints"][0]["conditions"] = json::array();
  EXPECT_EQ(ListError(conditions_array), "EndpointSliceList item 1 endpoint 0: 'conditions' is not an object");
  json target_string = good;
  target_string["items"][1]["endpoints"][0]["targetRef"] = "pod";
  EXPECT_EQ(ListError(target_string), "EndpointSliceList item 1 endpoint 0: 'targetRef' is not an object");
  json port_string = good;
  port_string["items"][0]["ports"][0]["port"] = "8000";
  EXPECT_EQ(ListError(port_string), "EndpointSliceList item 0 port 0: 'port' is not an integer");
  json port_float = good;
  port_float["items"][0]["ports"][0]["port"] = 8000.5;
  EXPECT_EQ(ListError(port_float), "EndpointSliceList item 0 port 0: 'port' is not an integer");
  json port_range = good;
  port_range["items"][0]["ports"][0]["port"] = 70000;
  EXPECT_EQ(ListError(port_range), "EndpointSliceList item 0 port 0: 'port' is outside 0-65535");
  port_range["items"][0]["ports"][0]["port"] = -1;
  EXPECT_EQ(ListError(port_range), "EndpointSliceList item 0 port 0: 'port' is outside 0-65535");
  port_range["items"][0]["ports"][0]["port"] = 18446744073709551615ull;
  EXPECT_EQ(ListError(port_range), "EndpointSliceList item 0 port 0: 'port' is outside 0-65535");
  json ports_object = good;
  ports_object["items"][0]["ports"] = json::object();
  EXPECT_EQ(ListError(ports_object), "EndpointSliceList item 0: 'ports' is not an array");
}

TEST(EndpointSliceDecode, NotJsonNotAnObjectTooDeepOrTooBigIsAnError) {
  for (const std::string& body :
       {std::string(""), std::string("{"), std::string("null"), std::string("[]"), std::string("\"x\""),
        std::string("{\"metadata\":{}}garbage"), std::string("{\"a\":\"\xff\xfe\"}")}) {
    auto r = DecodeEndpointSliceList(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_THAT(r.status().message(), ::testing::StartsWith("EndpointSliceList: ")) << body;
  }
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THAT(DecodeEndpointSliceList(deep).status().message(), HasSubstr("nested deeper than 64 levels"));
  std::string deep_event = "{\"type\":\"ADDED\",\"object\":" + std::string(5000, '{') + std::string(5000, '}') + "}";
  EXPECT_THAT(DecodeWatchEvent(deep_event).status().message(), HasSubstr("nested deeper"));
  // Brackets inside strings do not count.
  json strings = List({Slice("a", "10.0.0.1")});
  strings["metadata"]["note"] = std::string(1000, '[');
  EXPECT_TRUE(DecodeEndpointSliceList(strings.dump()).ok());

  SliceDecodeLimits small;
  small.max_items = 3;
  small.max_endpoints_per_slice = 2;
  small.max_addresses_per_endpoint = 2;
  small.max_total_endpoints = 5;
  small.max_string_bytes = 16;
  small.max_document_bytes = 4096;
  std::vector<json> four(4, Slice("a", "10.0.0.1"));
  EXPECT_EQ(ListError(List(four), small), "EndpointSliceList: 'items' has 4 entries (at most 3)");
  json wide = Slice("a", "10.0.0.1");
  wide["endpoints"].push_back(wide["endpoints"][0]);
  wide["endpoints"].push_back(wide["endpoints"][0]);
  EXPECT_EQ(ListError(List({wide}), small), "EndpointSliceList item 0: 'endpoints' has 3 entries (at most 2)");
  json many = Slice("a", "10.0.0.1");
  many["endpoints"][0]["addresses"] = {"10.0.0.1", "10.0.0.2"};
  many["endpoints"].push_back(many["endpoints"][0]);
  EXPECT_EQ(ListError(List({many, many}), small), "EndpointSliceList: more than 5 endpoints in all");
  json long_name = Slice(std::string(17, 'n'), "10.0.0.1");
  EXPECT_EQ(ListError(List({long_name}), small), "EndpointSliceList item 0 metadata: 'name' is longer than 16 bytes");
  json big = List({Slice("a", "10.0.0.1")});
  big["metadata"]["padding"] = std::string(5000, 'x');
  EXPECT_EQ(ListError(big, small), "EndpointSliceList: larger than 4096 bytes");
  // The default bounds hold a Service far bigger than the API allows per slice.
  std::vector<json> hundred(100, Slice("a", "10.0.0.1"));
  EXPECT_TRUE(DecodeEndpointSliceList(List(hundred).dump()).ok());
  // Millions of tiny values are refused before they are built in memory.
  std::string flood = R"({"metadata":{},"items":[)";
  for (int i = 0; i < 2100000; ++i) flood += "0,";
  flood += "0]}";
  EXPECT_EQ(DecodeEndpointSliceList(flood).status().message(), "EndpointSliceList: has more than 2000000 JSON values");
  SliceDecodeLimits few;
  few.max_json_values = 10;
  EXPECT_THAT(DecodeEndpointSliceList(List({Slice("a", "10.0.0.1")}).dump(), few).status().message(),
              HasSubstr("more than 10 JSON values"));
  std::vector<json> too_many(10001, json::object());
  EXPECT_EQ(ListError(List(too_many)), "EndpointSliceList: 'items' has 10001 entries (at most 10000)");
}

// Every node of a real list replaced by every JSON type: an ok value or an INVALID_ARGUMENT
// starting with the document's name, never an exception or a crash.
TEST(EndpointSliceDecode, EveryFieldReplacedByEveryTypeNeverThrows) {
  const json base = List({Slice("a", "10.0.0.1"), Slice("b", "10.0.0.2", false)});
  const std::vector<json> replacements = {
      nullptr, 1, -1, 1e308, "x", true, json::array(), json::object(), json::array({1, "x", nullptr})};
  std::vector<json::json_pointer> paths;
  const json flat = base.flatten();
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    json::json_pointer p(it.key());
    while (!p.empty()) {
      paths.push_back(p);
      p = p.parent_pointer();
    }
  }
  size_t ok = 0, errors = 0;
  for (const auto& p : paths) {
    for (const auto& r : replacements) {
      json doc = base;
      doc[p] = r;
      auto list = DecodeEndpointSliceList(doc.dump());
      if (list.ok()) {
        ++ok;
        continue;
      }
      ++errors;
      EXPECT_EQ(list.status().code(), Code::kInvalidArgument);
      EXPECT_THAT(list.status().message(), ::testing::StartsWith("EndpointSliceList")) << p.to_string();
      const json* items = doc.contains("items") ? &doc["items"] : nullptr;
      json ev = {{"type", "MODIFIED"},
                 {"object", items != nullptr && items->is_array() && !items->empty() ? (*items)[0] : doc}};
      auto decoded = DecodeWatchEvent(ev.dump());  // must not throw either
      (void)decoded;
    }
  }
  EXPECT_GT(ok, 0u);
  EXPECT_GT(errors, 100u);
}

TEST(EndpointSliceDecode, WatchEvents) {
  json added = {{"type", "ADDED"}, {"object", Slice("a", "10.0.0.1")}};
  auto a = DecodeWatchEvent(added.dump());
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->type, DecodedWatchEvent::Type::kAdded);
  EXPECT_EQ(a->slice.name, "a");
  EXPECT_EQ(a->slice.resource_version, "7");
  ASSERT_EQ(a->slice.endpoints.size(), 1u);
  auto bookmark =
      DecodeWatchEvent(R"({"type":"BOOKMARK","object":{"kind":"EndpointSlice","metadata":{"resourceVersion":"99"}}})");
  ASSERT_TRUE(bookmark.ok());
  EXPECT_EQ(bookmark->type, DecodedWatchEvent::Type::kBookmark);
  EXPECT_EQ(bookmark->slice.resource_version, "99");
  auto gone = DecodeWatchEvent(
      R"({"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version: 1"}})");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->type, DecodedWatchEvent::Type::kError);
  EXPECT_EQ(gone->error_code, 410);
  EXPECT_EQ(gone->error_message, "too old resource version: 1");
  auto odd = DecodeWatchEvent("{\"type\":\"ERROR\",\"object\":{\"code\":123456,\"message\":\"bad\\u0000\xc3\xa9\"}}");
  ASSERT_TRUE(odd.ok()) << odd.status().message();
  EXPECT_EQ(odd->error_code, 0);            // not an HTTP status
  EXPECT_EQ(odd->error_message, "bad???");  // printable ASCII only
  EXPECT_EQ(DecodeWatchEvent(R"({"type":"ERROR","object":{"code":1e300}})").status().message(),
            "watch event ERROR: 'code' is not an integer");

  EXPECT_EQ(DecodeWatchEvent("not json").status().message(), "watch event: not valid JSON");
  EXPECT_EQ(DecodeWatchEvent(R"({"object":{}})").status().message(), "watch event: 'type' is missing");
  EXPECT_EQ(DecodeWatchEvent(R"({"type":7,"object":{}})").status().message(), "watch event: 'type' is not a string");
  EXPECT_EQ(DecodeWatchEvent(R"({"type":"EXPLODED","object":{}})").status().message(),
            "watch event: unknown type \"EXPLODED\"");
  EXPECT_EQ(DecodeWatchEvent(R"({"type":"ADDED"})").status().message(), "watch event ADDED: 'object' is missing");
  EXPECT_EQ(DecodeWatchEvent(R"({"type":"ADDED","object":[]})").status().message(),
            "watch event ADDED: 'object' is not an object");
  EXPECT_EQ(
      DecodeWatchEvent(R"({"type":"DELETED","object":{"metadata":{"name":"a"},"endpoints":[1]}})").status().message(),
      "watch event DELETED object endpoint 0: is not an object");
  EXPECT_EQ(DecodeWatchEvent(R"({"type":"MODIFIED","object":{"endpoints":[]}})").status().message(),
            "watch event MODIFIED object: 'metadata' is missing");
}

TEST(EndpointSliceDecode, PrintableSnippetIsSafeAndBounded) {
  EXPECT_EQ(PrintableSnippet("ok text"), "ok text");
  EXPECT_EQ(PrintableSnippet(std::string("a\0b\n\xff", 5)), "a?b??");
  EXPECT_EQ(PrintableSnippet(std::string(300, 'x'), 10), "xxxxxxxxxx...");
}

// The service-account token file is external input too: a bounded read, and a token that
// is not one printable line is not sent (a CR/LF in it would start another request header).
TEST(KubeApi, TokenIsSentOnlyWhenItIsOnePrintableLine) {
  std::string file = ::testing::TempDir() + "/token-" + std::to_string(getpid());
  auto headers = [&](const std::string& content) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    return KubeRequestOptions(KubeApiConfig{"https://10.0.0.1", file, ""}).headers;
  };
  EXPECT_EQ(headers("eyJhbGciOi.abc.def\n"), std::vector<std::string>{"Authorization: Bearer eyJhbGciOi.abc.def"});
  EXPECT_TRUE(headers("abc\r\nX-Injected: 1\n").empty());
  EXPECT_TRUE(headers(std::string("abc\0def", 7)).empty());
  EXPECT_TRUE(headers(std::string(70000, 'a')).empty());
  EXPECT_TRUE(headers("").empty());
  std::remove(file.c_str());
}

}  // namespace
}  // namespace nimscaler::sources
