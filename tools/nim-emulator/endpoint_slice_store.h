#pragma once
// EndpointSliceStore: the discovery.k8s.io/v1 EndpointSlices of one Service as the real API
// server keeps them, for the two fakes of that API: the emulator's (server.cc, civetweb) and the
// tests' FakeKubeApi (tests/fakes/fake_kube_api.h, net::HttpServer). One slice per pod, every
// change a watch event with its resourceVersion, a bounded history whose start is where a watch
// that resumes from an older version gets 410 Expired. The JSON shapes are written here once.
// Not thread-safe: its owner's lock guards it; requests and transport stay with the owner.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace nimemu {

class EndpointSliceStore {
 public:
  struct Endpoint {
    std::string slice;  ///< the slice's name, e.g. "<service>-x7k2p"
    std::string ip = "127.0.0.1";
    int port = 0;
    bool ready = false;
    bool terminating = false;
  };
  struct Options {
    std::string ns, service;
    std::string port_name = "http";
    std::string managed_by = "endpointslice-controller.k8s.io";
    uint64_t first_version = 1000;
    size_t max_history = 2000;  ///< events kept; the older half is dropped when it is reached
  };

  explicit EndpointSliceStore(Options o) : o_(std::move(o)), rv_(o_.first_version) {}

  const Options& options() const { return o_; }
  uint64_t version() const { return rv_; }

  /// The pod's slice: ADDED the first time, MODIFIED after. With `only_on_change`, an
  /// identical slice makes no event. Returns whether an event was made.
  bool Set(const std::string& pod, const Endpoint& e, bool only_on_change = false) {
    auto it = slices_.find(pod);
    if (it != slices_.end() && only_on_change && Same(it->second.endpoint, e)) return false;
    const char* type = it == slices_.end() ? "ADDED" : "MODIFIED";
    Slice& s = slices_[pod];
    s.endpoint = e;
    s.rv = ++rv_;
    Record(type, SliceJson(pod, s));
    return true;
  }

  /// DELETED with the slice's last state; false when the pod has none.
  bool Delete(const std::string& pod) {
    auto it = slices_.find(pod);
    if (it == slices_.end()) return false;
    Slice s = it->second;
    s.rv = ++rv_;
    slices_.erase(it);
    Record("DELETED", SliceJson(pod, s));
    return true;
  }

  /// The pod's endpoint as its slice says; null when it has none.
  const Endpoint* Find(const std::string& pod) const {
    auto it = slices_.find(pod);
    return it == slices_.end() ? nullptr : &it->second.endpoint;
  }
  std::vector<std::string> Pods() const {
    std::vector<std::string> out;
    for (const auto& [pod, s] : slices_) out.push_back(pod);
    return out;
  }

  /// A BOOKMARK event at a new version, kept in the history like any other.
  void Bookmark() { Record("BOOKMARK", BookmarkObject(++rv_)); }
  /// A BOOKMARK line at the current version, not kept (sent to one idle watch).
  std::string BookmarkLine() const { return Line("BOOKMARK", BookmarkObject(rv_)); }

  /// Forgets the whole history including the current version: a watch resuming from any
  /// version it has seen gets 410 and must list again.
  void Compact() {
    events_.clear();
    compacted_below_ = rv_ + 1;
  }

  /// Whether a watch resuming from `from` (0: none given) asks for history no longer kept.
  bool Expired(uint64_t from) const {
    if (from < compacted_below_) return true;
    if (from == 0) return false;
    return !events_.empty() && from + 1 < events_.front().rv && from < rv_;
  }
  /// The ERROR event (410 Expired) for a watch resuming from `from`.
  std::string ExpiredLine(uint64_t from) const {
    return Line("ERROR", {{"kind", "Status"},
                          {"apiVersion", "v1"},
                          {"metadata", nlohmann::json::object()},
                          {"status", "Failure"},
                          {"message", "too old resource version: " + std::to_string(from)},
                          {"reason", "Expired"},
                          {"code", 410}});
  }

  /// The watch events after version `from`, newline-terminated; *last is the newest sent.
  std::vector<std::string> EventsAfter(uint64_t from, uint64_t* last) const {
    std::vector<std::string> out;
    *last = from;
    for (const auto& e : events_) {
      if (e.rv <= from) continue;
      out.push_back(e.line);
      *last = e.rv;
    }
    return out;
  }

  /// The current state as ADDED events (a watch started without a resourceVersion).
  std::vector<std::string> AddedLines() const {
    std::vector<std::string> out;
    for (const auto& [pod, s] : slices_) out.push_back(Line("ADDED", SliceJson(pod, s)));
    return out;
  }

  /// The EndpointSliceList; `empty`: the same list with no items (another namespace or Service).
  std::string ListJson(bool empty = false) const {
    nlohmann::json items = nlohmann::json::array();
    if (!empty) {
      for (const auto& [pod, s] : slices_) items.push_back(SliceJson(pod, s));
    }
    return nlohmann::json{{"apiVersion", "discovery.k8s.io/v1"},
                          {"kind", "EndpointSliceList"},
                          {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                          {"items", items}}
        .dump();
  }

 private:
  struct Slice {
    Endpoint endpoint;
    uint64_t rv = 0;
  };
  struct Event {
    uint64_t rv;
    std::string line;
  };

  static bool Same(const Endpoint& a, const Endpoint& b) {
    return a.slice == b.slice && a.ip == b.ip && a.port == b.port && a.ready == b.ready &&
           a.terminating == b.terminating;
  }

  static std::string Line(const char* type, const nlohmann::json& object) {
    return nlohmann::json{{"type", type}, {"object", object}}.dump() + "\n";
  }

  static nlohmann::json BookmarkObject(uint64_t rv) {
    return {{"kind", "EndpointSlice"},
            {"apiVersion", "discovery.k8s.io/v1"},
            {"metadata", {{"resourceVersion", std::to_string(rv)}}}};
  }

  void Record(const char* type, const nlohmann::json& object) {
    events_.push_back({rv_, Line(type, object)});
    if (events_.size() > o_.max_history) events_.erase(events_.begin(), events_.begin() + o_.max_history / 2);
  }

  nlohmann::json SliceJson(const std::string& pod, const Slice& s) const {
    const Endpoint& e = s.endpoint;
    return {
        {"apiVersion", "discovery.k8s.io/v1"},
        {"kind", "EndpointSlice"},
        {"metadata",
         {{"name", e.slice},
          {"namespace", o_.ns},
          {"resourceVersion", std::to_string(s.rv)},
          {"generateName", o_.service + "-"},
          {"labels",
           {{"kubernetes.io/service-name", o_.service}, {"endpointslice.kubernetes.io/managed-by", o_.managed_by}}}}},
        {"addressType", "IPv4"},
        {"endpoints",
         nlohmann::json::array(
             {{{"addresses", {e.ip}},
               {"conditions",
                {{"ready", e.ready}, {"serving", e.ready || e.terminating}, {"terminating", e.terminating}}},
               {"nodeName", "emulated-node"},
               {"targetRef", {{"kind", "Pod"}, {"name", pod}, {"namespace", o_.ns}}}}})},
        {"ports", nlohmann::json::array({{{"name", o_.port_name}, {"port", e.port}, {"protocol", "TCP"}}})}};
  }

  Options o_;
  uint64_t rv_;
  uint64_t compacted_below_ = 0;
  std::map<std::string, Slice> slices_;  // by pod name
  std::vector<Event> events_;            // the watch history, oldest first
};

}  // namespace nimemu
