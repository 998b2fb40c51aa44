#pragma once
// FakeKubeApi: a loopback Kubernetes API server for discovery.k8s.io/v1 EndpointSlices with
// the shapes of the real API (written once, in tools/nim-emulator/endpoint_slice_store.h, which
// the emulator serves too): EndpointSliceList on list; newline-delimited watch events
// (ADDED, MODIFIED, DELETED, BOOKMARK) on `watch=1`, resumed from `resourceVersion`; an
// ERROR event with a 410 Status when that version is compacted away; 401 without the bearer
// token it currently expects. One slice per pod, like an emulated Deployment on one host.
// Also answers GETs of keda.sh/v1alpha1 ScaledObjects by name (200 for those added with
// AddScaledObject(), 404 for others, 403 for all after ForbidScaledObjects()) and of v1
// Services by name (200 for its own Service and those added with AddService(), 404 for others).

#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "scaler/net/http_server.h"
#include "tools/nim-emulator/endpoint_slice_store.h"

namespace nimscaler::testing {

class FakeKubeApi {
 public:
  FakeKubeApi(std::string ns, std::string service)
      : ns_(std::move(ns)),
        service_(std::move(service)),
        slices_({.ns = ns_, .service = service_, .first_version = 100, .max_history = size_t{1} << 20}) {
    server_.RouteStream("/apis/discovery.k8s.io/v1/namespaces/",
                        [this](const net::HttpServerRequest& req, net::HttpStreamWriter& w) { Handle(req, w); });
    server_.Route("/apis/keda.sh/v1alpha1/namespaces/",
                  [this](const net::HttpServerRequest& req) { return HandleScaledObject(req); });
    server_.Route("/api/v1/namespaces/", [this](const net::HttpServerRequest& req) {
      std::lock_guard lock(mu_);
      bool known = req.path == "/api/v1/namespaces/" + ns_ + "/services/" + service_ || services_.count(req.path);
      return known ? net::HttpServerResponse{200, "application/json", R"({"apiVersion":"v1","kind":"Service"})"}
                   : net::HttpServerResponse{404, "application/json",
                                             R"({"kind":"Status","apiVersion":"v1","reason":"NotFound","code":404})"};
    });
    Status s = server_.Start("127.0.0.1:0", 16);
    if (!s.ok()) throw std::runtime_error(s.message());
    url_ = "http://127.0.0.1:" + std::to_string(server_.port());
  }
  ~FakeKubeApi() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    server_.Stop();
  }

  const std::string& url() const { return url_; }

  /// Adds or replaces the pod's slice (ADDED the first time, MODIFIED after).
  void SetPod(const std::string& pod, const std::string& ip, int port, bool ready, bool terminating = false) {
    std::lock_guard lock(mu_);
    slices_.Set(pod,
                {.slice = service_ + "-" + pod, .ip = ip, .port = port, .ready = ready, .terminating = terminating});
    cv_.notify_all();
  }

  void DeletePod(const std::string& pod) {
    std::lock_guard lock(mu_);
    if (slices_.Delete(pod)) cv_.notify_all();
  }

  /// Forgets all history including the current version: any watch that resumes from a
  /// version it has seen gets 410 Gone and must list again.
  void Compact() {
    std::lock_guard lock(mu_);
    slices_.Compact();
  }
  /// Ends every open watch (as an API server restart or timeout would).
  void CloseWatches() {
    std::lock_guard lock(mu_);
    ++generation_;
    cv_.notify_all();
  }
  /// While held, EndpointSlice requests wait (an API server that is slow to answer).
  void HoldLists(bool hold) {
    {
      std::lock_guard lock(mu_);
      hold_ = hold;
    }
    cv_.notify_all();
  }
  void RequireToken(std::string token) {
    std::lock_guard lock(mu_);
    token_ = std::move(token);
  }
  void SendBookmark() {
    std::lock_guard lock(mu_);
    slices_.Bookmark();
    cv_.notify_all();
  }

  void AddScaledObject(const std::string& ns, const std::string& name) {
    std::lock_guard lock(mu_);
    scaled_objects_.insert("/apis/keda.sh/v1alpha1/namespaces/" + ns + "/scaledobjects/" + name);
  }
  void AddService(const std::string& ns, const std::string& name) {
    std::lock_guard lock(mu_);
    services_.insert("/api/v1/namespaces/" + ns + "/services/" + name);
  }
  void ForbidScaledObjects() {
    std::lock_guard lock(mu_);
    forbid_scaled_objects_ = true;
  }
  int scaled_object_gets() const {
    std::lock_guard lock(mu_);
    return scaled_object_gets_;
  }

  int lists() const {
    std::lock_guard lock(mu_);
    return lists_;
  }
  int watches() const {
    std::lock_guard lock(mu_);
    return watches_;
  }
  int unauthorized() const {
    std::lock_guard lock(mu_);
    return unauthorized_;
  }

 private:
  static std::string Param(const std::string& query, const std::string& key) {
    size_t pos = 0;
    while (pos < query.size()) {
      size_t amp = query.find('&', pos);
      std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
    return {};
  }

  net::HttpServerResponse HandleScaledObject(const net::HttpServerRequest& req) {
    std::lock_guard lock(mu_);
    ++scaled_object_gets_;
    auto status = [](int code, const std::string& reason) {
      return net::HttpServerResponse{
          code, "application/json",
          nlohmann::json{
              {"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"reason", reason}, {"code", code}}
              .dump()};
    };
    if (forbid_scaled_objects_) return status(403, "Forbidden");
    if (!scaled_objects_.count(req.path)) return status(404, "NotFound");
    return {200, "application/json", R"({"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject"})"};
  }

  void Handle(const net::HttpServerRequest& req, net::HttpStreamWriter& w) {
    std::unique_lock lock(mu_);
    std::string want_path = "/apis/discovery.k8s.io/v1/namespaces/" + ns_ + "/endpointslices";
    if (req.path != want_path || Param(req.query, "labelSelector") != "kubernetes.io%2Fservice-name%3D" + service_) {
      w.Start(404, "application/json");
      w.Write(R"({"kind":"Status","code":404,"message":"unexpected request"})");
      return;
    }
    cv_.wait(lock, [this] { return !hold_ || closing_; });
    if (!token_.empty()) {
      auto it = req.headers.find("authorization");
      if (it == req.headers.end() || it->second != "Bearer " + token_) {
        ++unauthorized_;
        w.Start(401, "application/json");
        w.Write(
            R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})");
        return;
      }
    }
    if (Param(req.query, "watch") != "1") {
      ++lists_;
      std::string body = slices_.ListJson();
      lock.unlock();
      w.Start(200, "application/json");
      w.Write(body);
      return;
    }
    ++watches_;
    uint64_t from = std::stoull("0" + Param(req.query, "resourceVersion"));
    int generation = generation_;
    lock.unlock();
    w.Start(200, "application/json");
    lock.lock();
    if (slices_.Expired(from)) {
      std::string gone = slices_.ExpiredLine(from);
      lock.unlock();
      w.Write(gone);
      return;
    }
    // Without a resourceVersion the whole history is replayed (from the first ADDED).
    uint64_t sent = from;
    while (!closing_ && generation == generation_) {
      std::vector<std::string> out = slices_.EventsAfter(sent, &sent);
      if (!out.empty()) {
        lock.unlock();
        for (const auto& line : out) {
          if (!w.Write(line)) return;
        }
        lock.lock();
        continue;
      }
      cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
  }

  const std::string ns_, service_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  nimemu::EndpointSliceStore slices_;  // the slices and their watch history, under mu_
  int generation_ = 0;
  bool closing_ = false;
  bool hold_ = false;
  std::string token_;
  int lists_ = 0, watches_ = 0, unauthorized_ = 0;
  std::set<std::string> scaled_objects_;
  std::set<std::string> services_;
  bool forbid_scaled_objects_ = false;
  int scaled_object_gets_ = 0;
  std::string url_;
  net::HttpServer server_;
};

}  // namespace nimscaler::testing
