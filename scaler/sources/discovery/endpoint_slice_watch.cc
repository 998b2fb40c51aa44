// Exports EndpointSliceWatch. nlohmann_json stays inside this file.
#include "scaler/sources/discovery/endpoint_slice_watch.h"

#include <nlohmann/json.hpp>

#include "scaler/common/text.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::sources {
namespace {

using nlohmann::json;

constexpr auto kMinBackoff = std::chrono::milliseconds(500);
constexpr auto kMaxBackoff = std::chrono::seconds(30);
constexpr int kWatchTimeoutSeconds = 240;  // the server closes the watch; we resume from the RV

bool BoolOr(const json& obj, const char* key, bool fallback) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// One EndpointSlice object -> its endpoints (conditions per the v1 API: a missing `ready`
// or `serving` means true, a missing `terminating` means false).
std::vector<SliceEndpoint> ParseSlice(const json& slice) {
  std::map<std::string, int> ports;
  if (auto p = slice.find("ports"); p != slice.end() && p->is_array()) {
    for (const auto& port : *p) {
      if (!port.contains("port") || !port["port"].is_number_integer()) continue;
      ports[port.value("name", std::string())] = port["port"].get<int>();
    }
  }
  std::vector<SliceEndpoint> out;
  if (auto e = slice.find("endpoints"); e != slice.end() && e->is_array()) {
    for (const auto& ep : *e) {
      const json conditions = ep.value("conditions", json::object());
      std::string pod;
      if (auto t = ep.find("targetRef"); t != ep.end() && t->is_object()) pod = t->value("name", std::string());
      if (!ep.contains("addresses") || !ep["addresses"].is_array()) continue;
      for (const auto& addr : ep["addresses"]) {
        if (!addr.is_string()) continue;
        SliceEndpoint se;
        se.address = addr.get<std::string>();
        se.pod = pod;
        se.ready = BoolOr(conditions, "ready", true);
        se.serving = BoolOr(conditions, "serving", se.ready);
        se.terminating = BoolOr(conditions, "terminating", false);
        se.ports = ports;
        out.push_back(std::move(se));
      }
    }
  }
  return out;
}


}  // namespace

EndpointSliceWatch::EndpointSliceWatch(KubeApiConfig api, std::shared_ptr<net::HttpClient> http, std::string ns,
                                       std::string service)
    : api_(std::move(api)), http_(std::move(http)), ns_(std::move(ns)), service_(std::move(service)) {
  thread_ = std::thread([this] { Run(); });
}

EndpointSliceWatch::~EndpointSliceWatch() {
  stop_.store(true);
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::vector<SliceEndpoint>> EndpointSliceWatch::Endpoints() const {
  std::lock_guard lock(mu_);
  if (!synced_) {
    return Unavailable("EndpointSlices of Service " + ns_ + "/" + service_ + " not listed yet" +
                       (last_error_.empty() ? "" : ": " + last_error_));
  }
  std::vector<SliceEndpoint> all;
  for (const auto& [name, eps] : slices_) all.insert(all.end(), eps.begin(), eps.end());
  return all;
}

std::string EndpointSliceWatch::LastError() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

std::string EndpointSliceWatch::Path() const {
  return api_.base_url + "/apis/discovery.k8s.io/v1/namespaces/" + UrlEncode(ns_) +
         "/endpointslices?labelSelector=" + UrlEncode("kubernetes.io/service-name=" + service_);
}

Status EndpointSliceWatch::List() {
  auto opts = KubeRequestOptions(api_);
  opts.timeout = std::chrono::seconds(30);
  auto resp = http_->Get(Path(), opts);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) {
    return Unavailable("list EndpointSlices of " + ns_ + "/" + service_ + ": HTTP " + std::to_string(resp->status) +
                       ": " + Truncate(Trim(resp->body), 200));
  }
  json doc = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("items") || !doc["items"].is_array()) {
    return Unavailable("list EndpointSlices of " + ns_ + "/" + service_ + ": not an EndpointSliceList: " +
                       Truncate(resp->body, 120));
  }
  std::map<std::string, std::vector<SliceEndpoint>> slices;
  for (const auto& item : doc["items"]) {
    slices[item["metadata"].value("name", std::string())] = ParseSlice(item);
  }
  std::lock_guard lock(mu_);
  slices_ = std::move(slices);
  resource_version_ = doc["metadata"].value("resourceVersion", std::string());
  synced_ = true;
  last_error_.clear();
  return Status::Ok();
}

bool EndpointSliceWatch::ApplyEvent(std::string_view line, bool* relist) {
  json ev = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (ev.is_discarded() || !ev.is_object()) return false;
  std::string type = ev.value("type", std::string());
  const json& obj = ev.contains("object") ? ev["object"] : json::object();
  if (type == "ERROR") {
    // A watch that fell too far behind gets 410 Gone (as a Status object): list again.
    if (obj.value("code", 0) == 410) *relist = true;
    std::lock_guard lock(mu_);
    last_error_ = "watch error: " + obj.value("message", std::string("unknown"));
    return false;
  }
  if (!obj.is_object() || !obj.contains("metadata")) return true;
  std::string rv = obj["metadata"].value("resourceVersion", std::string());
  std::string name = obj["metadata"].value("name", std::string());
  std::lock_guard lock(mu_);
  if (type == "ADDED" || type == "MODIFIED") slices_[name] = ParseSlice(obj);
  else if (type == "DELETED") slices_.erase(name);
  // BOOKMARK only moves the resourceVersion forward.
  if (!rv.empty()) resource_version_ = rv;
  return true;
}

Status EndpointSliceWatch::Watch() {
  std::string rv;
  {
    std::lock_guard lock(mu_);
    rv = resource_version_;
  }
  auto opts = KubeRequestOptions(api_);
  opts.timeout = std::chrono::seconds(kWatchTimeoutSeconds + 30);
  opts.cancel = &stop_;
  std::string url = Path() + "&watch=1&allowWatchBookmarks=true&timeoutSeconds=" +
                    std::to_string(kWatchTimeoutSeconds) + (rv.empty() ? "" : "&resourceVersion=" + UrlEncode(rv));
  std::string pending;
  bool relist = false, failed = false;
  auto resp = http_->Stream(url, opts, [&](std::string_view chunk) {
    pending.append(chunk);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!Trim(line).empty() && !ApplyEvent(line, &relist)) {
        failed = true;
        return false;
      }
    }
    return true;
  });
  if (relist) {
    relists_.fetch_add(1);
    std::lock_guard lock(mu_);
    resource_version_.clear();
    return Status(Code::kNotFound, "410 Gone: resourceVersion too old");
  }
  if (!resp.ok()) return resp.status();
  if (failed) return Unavailable("watch of " + ns_ + "/" + service_ + " ended: " + LastError());
  if (resp->status == 410) {
    relists_.fetch_add(1);
    std::lock_guard lock(mu_);
    resource_version_.clear();
    return Status(Code::kNotFound, "410 Gone: resourceVersion too old");
  }
  if (resp->status != 200) {
    return Unavailable("watch EndpointSlices of " + ns_ + "/" + service_ + ": HTTP " + std::to_string(resp->status) +
                       ": " + Truncate(Trim(resp->body), 200));
  }
  return Status::Ok();  // the server closed the watch (timeoutSeconds); resume from the RV
}

void EndpointSliceWatch::Run() {
  auto log = telemetry::Logger("sources");
  Duration backoff = kMinBackoff;
  bool need_list = true;
  while (!stop_.load()) {
    Status s = need_list ? List() : Watch();
    if (stop_.load()) return;
    if (s.ok()) {
      if (need_list) log->info("EndpointSlices of {}/{}: listed", ns_, service_);
      need_list = false;
      backoff = kMinBackoff;
      continue;
    }
    if (s.code() == Code::kNotFound) {  // 410 Gone: list again at once
      log->info("EndpointSlices of {}/{}: {}; listing again", ns_, service_, s.message());
      need_list = true;
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (last_error_ != s.message()) log->warn("EndpointSlices of {}/{}: {}; retrying in {}", ns_, service_,
                                                s.message(), FormatDuration(backoff));
      last_error_ = s.message();
      // A failed watch resumes from the resourceVersion; a failed list lists again.
    }
    std::unique_lock lock(stop_mu_);
    stop_cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
    backoff = std::min<Duration>(backoff * 2, kMaxBackoff);
  }
}

}  // namespace nimscaler::sources
