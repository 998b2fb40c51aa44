// Exports ScalerEngine.
#include "scaler/engine/scaler_engine.h"

#include <algorithm>
#include <set>

#include "scaler/common/text.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::engine {

namespace {
// Remembered bad metadata costs memory: at most this many entries, and none whose metadata is
// large (such a caller pays for its own validation each time rather than growing our memory).
constexpr size_t kMaxCachedErrors = 1000;
constexpr size_t kMaxCachedErrorBytes = 16 * 1024;

size_t MetadataBytes(const config::Metadata& metadata) {
  size_t n = 0;
  for (const auto& [k, v] : metadata) n += k.size() + v.size();
  return n;
}

constexpr size_t kMaxPendingWakes = 10000;

// A Kubernetes Service or namespace name: a DNS-1123 label.
bool IsServiceLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

// The labels of a DNS name, lower-case, without a final dot.
std::vector<std::string> DnsLabels(std::string_view host) {
  std::string h = ToLower(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  std::vector<std::string> labels;
  size_t start = 0;
  while (true) {
    size_t dot = h.find('.', start);
    labels.push_back(h.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return labels;
}

// "<svc>.<ns>.svc" in a name's labels (the first "svc" label with two labels before it): the
// cluster DNS name of a Service, or of one of its pods when a hostname comes first.
std::optional<ServiceName> ClusterServiceName(const std::vector<std::string>& labels) {
  for (size_t i = 2; i < labels.size(); ++i) {
    if (labels[i] == "svc") return ServiceName{labels[i - 1], labels[i - 2]};
  }
  return std::nullopt;
}

// The host of "scheme://host[:port][/path]" (a bracketed IPv6 address comes back as it is).
std::string_view UrlHost(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  url.remove_prefix(scheme + 3);
  size_t at = url.find_first_of("/?#");
  url = url.substr(0, at);
  if (size_t userinfo = url.rfind('@'); userinfo != std::string_view::npos) url.remove_prefix(userinfo + 1);
  if (!url.empty() && url.front() == '[') return url;
  return url.substr(0, url.find(':'));
}
}  // namespace

std::vector<ServiceName> ServicesRead(const trigger::ScalerSpec& spec) {
  std::vector<ServiceName> found;
  const auto& d = spec.discovery;
  switch (d.kind) {
    case sources::DiscoveryConfig::Kind::kService: found.push_back({spec.key.ns, d.service}); break;
    case sources::DiscoveryConfig::Kind::kDns: {
      std::vector<std::string> labels = DnsLabels(d.dns_name);
      if (labels.size() == 1) {
        found.push_back({spec.key.ns, labels[0]});
      } else if (labels.size() == 2) {
        found.push_back({labels[1], labels[0]});
      } else if (auto svc = ClusterServiceName(labels)) {
        found.push_back(*svc);
      }
      break;
    }
    case sources::DiscoveryConfig::Kind::kStatic:
      for (const auto& url : d.urls) {
        if (auto svc = ClusterServiceName(DnsLabels(UrlHost(url)))) found.push_back(*svc);
      }
      break;
  }
  std::erase_if(found, [](const ServiceName& s) { return !IsServiceLabel(s.ns) || !IsServiceLabel(s.name); });
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

ScalerEngine::ScalerEngine(trigger::SpecOptions options, EngineDeps deps, Duration idle_forget, size_t workers)
    : options_(options),
      deps_(std::move(deps)),
      idle_forget_(idle_forget),
      collector_(deps_, workers),
      wake_poller_(deps_.clock, 4) {}

ScalerEngine::~ScalerEngine() { StopAll(); }

std::optional<Result<std::shared_ptr<TrackedObject>>> ScalerEngine::Lookup(const std::string& ns,
                                                                           const std::string& name,
                                                                           const config::Metadata& metadata) {
  TimePoint now = deps_.clock->Now();
  EntryKey key{ns, name, metadata};
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  it->second.last_access = now;
  if (!it->second.error.ok()) return Result<std::shared_ptr<TrackedObject>>(it->second.error);
  it->second.object->Touch(now);
  return Result<std::shared_ptr<TrackedObject>>(it->second.object);
}

Result<std::shared_ptr<TrackedObject>> ScalerEngine::Resolve(const std::string& ns, const std::string& name,
                                                             const config::Metadata& metadata) {
  if (auto hit = Lookup(ns, name, metadata)) return *hit;

  // Not cached: build and start it with no lock held (regexes compile, a watch may start), so
  // one new trigger never blocks the lookups of the others.
  Entry entry;
  entry.last_access = deps_.clock->Now();
  std::optional<PendingWake> pending;
  {
    std::lock_guard lock(mu_);
    auto w = pending_wakes_.find({ns, name});
    if (w != pending_wakes_.end() && w->second.until > entry.last_access) pending = w->second;
  }
  auto built = trigger::BuildScalerSpec(ns, name, metadata, options_);
  Status joined = built.status();
  if (built.ok() && !pending) {
    // A wake by Service recorded before tracking (issue 18 item 2): the first Service read
    // with one in force.
    std::vector<ServiceName> services = ServicesRead(**built);
    std::lock_guard lock(mu_);
    for (const auto& svc : services) {
      auto w = pending_service_wakes_.find(svc);
      if (w != pending_service_wakes_.end() && w->second.until > entry.last_access) {
        pending = w->second;
        break;
      }
    }
  }
  if (built.ok()) {
    entry.object = std::make_shared<TrackedObject>(*built, deps_);
    // Woken before its first cycle can run, so no first answer says "inactive".
    if (pending) entry.object->Wake(entry.last_access, pending->reason + ", recorded before tracking");
    joined = collector_.Add(entry.object);
    if (!joined.ok()) {
      entry.object->Stop();
      entry.object.reset();
    } else if (entry.object->HasWakeQuery()) {
      wake_poller_.Add(entry.object);
    }
  }
  if (!joined.ok()) entry.error = joined;

  std::shared_ptr<TrackedObject> lost;  // ours, when another caller built the same trigger first
  Result<std::shared_ptr<TrackedObject>> answer = Unavailable("unreachable");
  {
    std::lock_guard lock(mu_);
    EntryKey key{ns, name, metadata};
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      lost = std::move(entry.object);
      it->second.last_access = entry.last_access;
      if (it->second.error.ok()) it->second.object->Touch(entry.last_access);
    } else if (!entry.error.ok() && MetadataBytes(metadata) > kMaxCachedErrorBytes) {
      answer = entry.error;  // not cached: see kMaxCachedErrorBytes
    } else {
      if (!entry.error.ok() && cached_errors_ >= kMaxCachedErrors) {
        std::erase_if(entries_, [](const auto& kv) { return !kv.second.error.ok(); });
        cached_errors_ = 0;
      }
      (entry.error.ok() ? tracked_ : cached_errors_) += 1;
      it = entries_.emplace(std::move(key), std::move(entry)).first;
      if (deps_.metrics) deps_.metrics->SetTrackedScaledObjects(tracked_);
    }
    if (it != entries_.end()) {
      answer = it->second.error.ok() ? Result<std::shared_ptr<TrackedObject>>(it->second.object)
                                     : Result<std::shared_ptr<TrackedObject>>(it->second.error);
    }
  }
  if (lost) Drop({lost});
  if (!joined.ok() && !lost) {
    if (deps_.metrics) deps_.metrics->RecordMetadataError();
    // The same Status is every caller's answer for this metadata (GetMetricSpec, GetMetrics,
    // IsActive): the line carries its gRPC code. No trigger: the spec was not built.
    telemetry::Log(telemetry::Logger("engine"), spdlog::level::warn,
                   {.ns = ns, .scaledobject = name, .code = CodeName(joined.code())}, "{}/{}: {}", ns, name,
                   joined.message());
  }
  return answer;
}

std::vector<std::shared_ptr<TrackedObject>> ScalerEngine::List() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<TrackedObject>> out;
  out.reserve(tracked_);
  for (const auto& [k, e] : entries_) {
    if (e.object) out.push_back(e.object);
  }
  return out;
}

size_t ScalerEngine::Wake(const std::string& ns, const std::string& name, TimePoint now, const std::string& reason) {
  std::vector<std::shared_ptr<TrackedObject>> matched;
  {
    std::lock_guard lock(mu_);
    // Entries are ordered by (namespace, name, metadata): the trigger's entries are adjacent.
    for (auto it = entries_.lower_bound(EntryKey{ns, name, {}}); it != entries_.end(); ++it) {
      if (it->first.ns != ns || it->first.name != name) break;
      if (it->second.object) matched.push_back(it->second.object);
    }
  }
  for (const auto& obj : matched) obj->Wake(now, reason);  // Wake() may publish: done outside mu_
  return matched.size();
}

ServiceWake ScalerEngine::WakeService(const std::string& ns, const std::string& service, TimePoint now,
                                      const std::string& reason) {
  // Matched outside mu_ (List() copies the pointers): reading every spec's names is work that
  // the gRPC lookups, which take mu_, need not wait for.
  ServiceName wanted{ns, service};
  std::vector<std::shared_ptr<TrackedObject>> matched;
  for (auto& obj : List()) {
    std::vector<ServiceName> read = ServicesRead(obj->spec());
    if (std::binary_search(read.begin(), read.end(), wanted)) matched.push_back(std::move(obj));
  }
  ServiceWake woke;
  std::set<std::string> names;
  for (const auto& obj : matched) {  // each entry is one trigger: each is woken once
    obj->Wake(now, reason);
    names.insert(obj->spec().key.ToString());
  }
  woke.triggers = matched.size();
  woke.scaled_objects.assign(names.begin(), names.end());
  return woke;
}

void ScalerEngine::RecordPendingServiceWake(const std::string& ns, const std::string& service, TimePoint until,
                                            const std::string& reason) {
  std::lock_guard lock(mu_);
  TimePoint now = deps_.clock->Now();
  std::erase_if(pending_service_wakes_, [&](const auto& kv) { return kv.second.until <= now; });
  ServiceName key{ns, service};
  if (pending_service_wakes_.size() >= kMaxPendingWakes && !pending_service_wakes_.count(key)) return;
  pending_service_wakes_[key] = PendingWake{until, reason};
}

void ScalerEngine::RecordPendingWake(const std::string& ns, const std::string& name, TimePoint until,
                                     const std::string& reason) {
  std::lock_guard lock(mu_);
  TimePoint now = deps_.clock->Now();
  std::erase_if(pending_wakes_, [&](const auto& kv) { return kv.second.until <= now; });
  if (pending_wakes_.size() >= kMaxPendingWakes && !pending_wakes_.count({ns, name})) return;
  pending_wakes_[{ns, name}] = PendingWake{until, reason};
}

void ScalerEngine::Retire(const std::vector<std::shared_ptr<TrackedObject>>& objects, const std::string& why) {
  Drop(objects);
  for (const auto& obj : objects) {
    if (deps_.metrics) deps_.metrics->RemoveScaledObject(obj->MetricLabels());
    telemetry::Log(telemetry::Logger("engine"), spdlog::level::info, obj->LogContext(), "{}: {}",
                   obj->spec().key.ToString(), why);
  }
}

size_t ScalerEngine::ForgetIf(const std::function<bool(const TrackedObject&)>& drop, const std::string& why) {
  std::vector<std::shared_ptr<TrackedObject>> dropped;
  {
    std::lock_guard lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.object && drop(*it->second.object)) {
        dropped.push_back(it->second.object);
        --tracked_;
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    if (!dropped.empty() && deps_.metrics) deps_.metrics->SetTrackedScaledObjects(tracked_);
  }
  Retire(dropped, why);
  return dropped.size();
}

bool ScalerEngine::CollectionHealthy(TimePoint now, std::string* why) const {
  for (const auto& obj : List()) {
    const auto& s = obj->spec();
    Duration limit = 2 * s.scrape_interval + s.scrape.http.timeout;
    if (now - obj->LastCycleEnd() > limit) {
      if (why) {
        *why = s.key.ToString() + ": no collection cycle finished for " +
               FormatDuration(std::chrono::duration_cast<Duration>(now - obj->LastCycleEnd()));
      }
      return false;
    }
  }
  return true;
}

void ScalerEngine::Drop(std::vector<std::shared_ptr<TrackedObject>> objects) {
  if (objects.empty()) return;
  std::vector<const TrackedObject*> raw;
  raw.reserve(objects.size());
  for (const auto& obj : objects) raw.push_back(obj.get());
  collector_.Remove(raw);  // one pass for the whole batch
  wake_poller_.Remove(raw);
  for (auto& obj : objects) obj->Stop();
}

size_t ScalerEngine::ForgetIdle(TimePoint now) {
  std::vector<std::shared_ptr<TrackedObject>> dropped;
  size_t tracked = 0;
  {
    std::lock_guard lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      // An open StreamIsActive stream is a request that lasts: KEDA may poll rarely
      // (pollingInterval is unbounded) while it waits for a push.
      if (it->second.object && it->second.object->HasSubscribers()) it->second.last_access = now;
      if (now - it->second.last_access > idle_forget_) {
        if (it->second.object) {
          dropped.push_back(it->second.object);
          --tracked_;
        } else {
          --cached_errors_;
        }
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    tracked = tracked_;
  }
  Retire(dropped, "forgotten after " + FormatDuration(idle_forget_) + " without requests");
  if (!dropped.empty() && deps_.metrics) deps_.metrics->SetTrackedScaledObjects(tracked);
  return dropped.size();
}

void ScalerEngine::StopAll() {
  std::map<EntryKey, Entry> entries;
  {
    std::lock_guard lock(mu_);
    entries.swap(entries_);
    tracked_ = cached_errors_ = 0;
  }
  std::vector<std::shared_ptr<TrackedObject>> objects;
  for (auto& [k, e] : entries) {
    if (e.object) objects.push_back(std::move(e.object));
  }
  Drop(std::move(objects));
}

}  // namespace nimscaler::engine
