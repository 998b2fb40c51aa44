// Exports EndpointSliceWatch and WatchThreadGroup.
#include "scaler/sources/discovery/endpoint_slice_watch.h"

#include <condition_variable>
#include <exception>
#include <map>

#include "scaler/common/clock.h"
#include "scaler/common/text.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::sources {

namespace {

constexpr auto kMinBackoff = std::chrono::milliseconds(500);
constexpr auto kMaxBackoff = std::chrono::seconds(30);
constexpr int kWatchTimeoutSeconds = 240;  // the server closes the watch; we resume from the RV
constexpr size_t kMaxEventLineBytes = 16u << 20;

// How a step of the loop ended, beyond ok.
constexpr Code kRelistNow = Code::kNotFound;           // 410 Gone
constexpr Code kRelistLater = Code::kInvalidArgument;  // a malformed document: list again after the backoff

}  // namespace

// The state of one watch, shared by the EndpointSliceWatch and its thread so that the thread
// may outlive the watch object while it stops.
class WatchCore {
 public:
  WatchCore(KubeApiConfig api, std::shared_ptr<net::HttpClient> http, std::string ns, std::string service)
      : api_(std::move(api)), http_(std::move(http)), ns_(std::move(ns)), service_(std::move(service)) {}

  void Run();
  void RequestStop() {
    {
      std::lock_guard lock(stop_mu_);
      stop_.store(true);
    }
    stop_cv_.notify_all();
  }
  bool finished() const { return finished_.load(); }

  Result<std::vector<SliceEndpoint>> Endpoints() const {
    std::lock_guard lock(mu_);
    if (!synced_) {
      return Unavailable("EndpointSlices of Service " + ns_ + "/" + service_ + " not listed yet" +
                         (last_error_.empty() ? "" : ": " + last_error_));
    }
    std::vector<SliceEndpoint> all;
    for (const auto& [name, eps] : slices_) all.insert(all.end(), eps.begin(), eps.end());
    return all;
  }
  std::string LastError() const {
    std::lock_guard lock(mu_);
    return last_error_;
  }
  uint64_t relists() const { return relists_.load(); }

 private:
  void Loop();
  Status List();
  Status Watch();
  Status ApplyEvent(std::string_view line);
  std::string Path() const;
  std::string What() const { return ns_ + "/" + service_; }

  const KubeApiConfig api_;
  const std::shared_ptr<net::HttpClient> http_;
  const std::string ns_;
  const std::string service_;

  mutable std::mutex mu_;                                     // guards the fields below; never held across I/O
  std::map<std::string, std::vector<SliceEndpoint>> slices_;  // slice name -> endpoints
  std::string resource_version_;
  bool synced_ = false;
  std::string last_error_;

  std::atomic<uint64_t> relists_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
};

std::string WatchCore::Path() const {
  return api_.base_url + "/apis/discovery.k8s.io/v1/namespaces/" + UrlEncode(ns_) +
         "/endpointslices?labelSelector=" + UrlEncode("kubernetes.io/service-name=" + service_);
}

Status WatchCore::List() {
  auto opts = KubeRequestOptions(api_);
  opts.timeout = std::chrono::seconds(30);
  opts.cancel = &stop_;  // a hung list ends when the watch stops
  auto resp = http_->Get(Path(), opts);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) {
    return Unavailable("list EndpointSlices of " + What() + ": HTTP " + std::to_string(resp->status) + ": " +
                       PrintableSnippet(Trim(resp->body)));
  }
  auto list = DecodeEndpointSliceList(resp->body);
  if (!list.ok()) return Status(kRelistLater, "list EndpointSlices of " + What() + ": " + list.status().message());
  std::map<std::string, std::vector<SliceEndpoint>> slices;
  for (auto& item : std::move(list).value().items) slices[item.name] = std::move(item.endpoints);
  std::lock_guard lock(mu_);
  slices_ = std::move(slices);
  resource_version_ = list->resource_version;
  synced_ = true;
  last_error_.clear();
  return Status::Ok();
}

// Ok: applied. kRelistNow: 410 Gone. kRelistLater: a malformed event (the cache may have
// missed a change: list again). Unavailable: an ERROR event (resume the watch).
Status WatchCore::ApplyEvent(std::string_view line) {
  auto ev = DecodeWatchEvent(line);
  if (!ev.ok()) return Status(kRelistLater, "watch of " + What() + ": " + ev.status().message());
  using Type = DecodedWatchEvent::Type;
  if (ev->type == Type::kError) {
    // A watch that fell too far behind gets 410 Gone (as a Status object): list again.
    if (ev->error_code == 410) return Status(kRelistNow, "410 Gone: " + ev->error_message);
    return Unavailable("watch of " + What() + ": watch error: " + ev->error_message);
  }
  std::lock_guard lock(mu_);
  if (ev->type == Type::kAdded || ev->type == Type::kModified)
    slices_[ev->slice.name] = ev->slice.endpoints;
  else if (ev->type == Type::kDeleted)
    slices_.erase(ev->slice.name);
  // BOOKMARK only moves the resourceVersion forward.
  if (!ev->slice.resource_version.empty()) resource_version_ = ev->slice.resource_version;
  return Status::Ok();
}

Status WatchCore::Watch() {
  std::string rv;
  {
    std::lock_guard lock(mu_);
    rv = resource_version_;
  }
  auto opts = KubeRequestOptions(api_);
  opts.timeout = std::chrono::seconds(kWatchTimeoutSeconds + 30);
  opts.cancel = &stop_;
  std::string url = Path() +
                    "&watch=1&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(kWatchTimeoutSeconds) +
                    (rv.empty() ? "" : "&resourceVersion=" + UrlEncode(rv));
  std::string pending;
  Status ended = Status::Ok();
  // Runs inside libcurl's C code: nothing may throw out of it.
  auto on_data = [&](std::string_view chunk) noexcept {
    try {
      pending.append(chunk);
      size_t start = 0, nl;
      while ((nl = pending.find('\n', start)) != std::string::npos) {
        std::string_view line(pending.data() + start, nl - start);
        start = nl + 1;
        if (Trim(line).empty()) continue;
        ended = ApplyEvent(line);
        if (!ended.ok()) return false;
      }
      pending.erase(0, start);
      if (pending.size() > kMaxEventLineBytes) {
        ended = Status(kRelistLater, "watch of " + What() + ": an event line is longer than " +
                                         std::to_string(kMaxEventLineBytes) + " bytes");
        return false;
      }
      return true;
    } catch (const std::exception& e) {
      ended = Internal("watch of " + What() + ": " + e.what());
      return false;
    }
  };
  auto resp = http_->Stream(url, opts, on_data);
  if (!ended.ok()) return ended;
  if (!resp.ok()) return resp.status();
  if (resp->status == 410) return Status(kRelistNow, "410 Gone: resourceVersion too old");
  if (resp->status != 200) {
    return Unavailable("watch EndpointSlices of " + What() + ": HTTP " + std::to_string(resp->status) + ": " +
                       PrintableSnippet(Trim(resp->body)));
  }
  return Status::Ok();  // the server closed the watch (timeoutSeconds); resume from the RV
}

void WatchCore::Run() {
  // The thread's top: no exception may reach std::terminate. Loop() already turns a failed
  // step into an error value; anything escaping it (its logging, say) is recorded, and the
  // loop starts over with a list after a pause, until stopped.
  while (!stop_.load()) {
    try {
      Loop();
    } catch (...) {
      try {
        std::lock_guard lock(mu_);
        last_error_ = "EndpointSlices of " + What() + ": internal error in the watch thread; restarting";
      } catch (...) {
      }
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait_for(lock, kMaxBackoff / 10, [this] { return stop_.load(); });
    }
  }
  finished_.store(true);
}

void WatchCore::Loop() {
  auto log = telemetry::Logger("sources");
  Duration backoff = kMinBackoff;
  bool need_list = true;
  while (!stop_.load()) {
    Status s;
    try {
      s = need_list ? List() : Watch();
    } catch (const std::exception& e) {
      s = Internal("EndpointSlices of " + What() + ": internal error: " + e.what());
      need_list = true;
    } catch (...) {
      s = Internal("EndpointSlices of " + What() + ": internal error");
      need_list = true;
    }
    if (stop_.load()) return;
    if (s.ok()) {
      if (need_list) log->info("EndpointSlices of {}: listed", What());
      need_list = false;
      backoff = kMinBackoff;
      continue;
    }
    if (s.code() == kRelistNow) {
      relists_.fetch_add(1);
      {
        std::lock_guard lock(mu_);
        resource_version_.clear();
      }
      log->info("EndpointSlices of {}: {}; listing again", What(), s.message());
      need_list = true;
      continue;
    }
    if (s.code() == kRelistLater) {
      // A malformed document: the cache may have missed a change, so list again (the same
      // bad event would come back if the watch resumed from the same resourceVersion).
      if (!need_list) relists_.fetch_add(1);
      need_list = true;
    }
    {
      std::lock_guard lock(mu_);
      if (last_error_ != s.message()) {
        log->warn("EndpointSlices of {}: {}; retrying in {}", What(), s.message(), FormatDuration(backoff));
      }
      last_error_ = s.message();
      // A failed watch resumes from the resourceVersion; a failed list lists again.
    }
    std::unique_lock lock(stop_mu_);
    stop_cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
    backoff = std::min<Duration>(backoff * 2, kMaxBackoff);
  }
}

// --- EndpointSliceWatch ------------------------------------------------------------------

EndpointSliceWatch::EndpointSliceWatch(KubeApiConfig api, std::shared_ptr<net::HttpClient> http, std::string ns,
                                       std::string service, WatchThreadGroup* group)
    : core_(std::make_shared<WatchCore>(std::move(api), std::move(http), std::move(ns), std::move(service))) {
  std::thread thread([core = core_] { core->Run(); });
  if (group != nullptr)
    group->Add(core_, std::move(thread));
  else
    thread_ = std::move(thread);
}

EndpointSliceWatch::~EndpointSliceWatch() {
  core_->RequestStop();
  if (thread_.joinable()) thread_.join();
}

Result<std::vector<SliceEndpoint>> EndpointSliceWatch::Endpoints() const { return core_->Endpoints(); }
std::string EndpointSliceWatch::LastError() const { return core_->LastError(); }
uint64_t EndpointSliceWatch::relists() const { return core_->relists(); }
void EndpointSliceWatch::RequestStop() { core_->RequestStop(); }

// --- WatchThreadGroup --------------------------------------------------------------------

void WatchThreadGroup::Add(std::shared_ptr<WatchCore> core, std::thread thread) {
  std::vector<Entry> done;
  {
    std::lock_guard lock(mu_);
    if (stopped_) core->RequestStop();
    // Reap threads that have ended (their watch was dropped): joining them is immediate.
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->core->finished()) {
        done.push_back(std::move(*it));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    entries_.push_back({std::move(core), std::move(thread)});
  }
  for (auto& e : done) e.thread.join();
}

void WatchThreadGroup::StopAll() {
  std::vector<Entry> all;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    all.swap(entries_);
  }
  for (auto& e : all) e.core->RequestStop();  // first signal every thread...
  for (auto& e : all) {                       // ...then wait for them, all stopping at once
    if (e.thread.joinable()) e.thread.join();
  }
}

size_t WatchThreadGroup::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace nimscaler::sources
