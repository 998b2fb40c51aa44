// Exports ScalerEngine.
#include "scaler/engine/scaler_engine.h"

#include "scaler/common/text.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::engine {

namespace {
constexpr size_t kMaxCachedErrors = 1000;  // bound memory spent on remembered bad metadata
}

ScalerEngine::ScalerEngine(spec::SpecOptions options, EngineDeps deps, Duration idle_forget, size_t workers)
    : options_(options), deps_(std::move(deps)), idle_forget_(idle_forget), collector_(deps_, workers) {}

ScalerEngine::~ScalerEngine() { StopAll(); }

Result<std::shared_ptr<TrackedObject>> ScalerEngine::Resolve(const std::string& ns, const std::string& name,
                                                             const config::Metadata& metadata) {
  TimePoint now = deps_.clock->Now();
  spec::ScaledObjectKey key{ns, name, spec::HashMetadata(metadata)};
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    auto built = spec::BuildScalerSpec(ns, name, metadata, options_);
    Entry entry;
    Status joined = built.status();
    if (built.ok()) {
      entry.object = std::make_shared<TrackedObject>(*built, deps_);
      joined = collector_.Add(entry.object);
      if (!joined.ok()) entry.object.reset();
    }
    if (!joined.ok()) {
      entry.error = joined;
      if (deps_.metrics) deps_.metrics->RecordMetadataError();
      telemetry::Logger("engine")->warn("{}/{}: {}", ns, name, entry.error.message());
      size_t errors = 0;
      for (const auto& [k, e] : entries_) errors += e.error.ok() ? 0 : 1;
      if (errors >= kMaxCachedErrors) {
        std::erase_if(entries_, [](const auto& kv) { return !kv.second.error.ok(); });
      }
    }
    it = entries_.emplace(key, std::move(entry)).first;
    if (deps_.metrics) {
      size_t tracked = 0;
      for (const auto& [k, e] : entries_) tracked += e.object ? 1 : 0;
      deps_.metrics->SetTrackedScaledObjects(tracked);
    }
  }
  it->second.last_access = now;
  if (!it->second.error.ok()) return it->second.error;
  it->second.object->Touch(now);
  return it->second.object;
}

std::vector<std::shared_ptr<TrackedObject>> ScalerEngine::List() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<TrackedObject>> out;
  for (const auto& [k, e] : entries_) {
    if (e.object) out.push_back(e.object);
  }
  return out;
}

size_t ScalerEngine::Wake(const std::string& ns, const std::string& name, TimePoint now, const std::string& reason) {
  size_t n = 0;
  for (const auto& obj : List()) {  // Wake() may publish: done outside mu_
    if (obj->spec().key.ns == ns && obj->spec().key.name == name) {
      obj->Wake(now, reason);
      ++n;
    }
  }
  return n;
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

size_t ScalerEngine::ForgetIdle(TimePoint now) {
  std::vector<std::shared_ptr<TrackedObject>> dropped;
  {
    std::lock_guard lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      // An open StreamIsActive stream is a request that lasts: KEDA may poll rarely
      // (pollingInterval is unbounded) while it waits for a push.
      if (it->second.object && it->second.object->HasSubscribers()) it->second.last_access = now;
      if (now - it->second.last_access > idle_forget_) {
        if (it->second.object) dropped.push_back(it->second.object);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& obj : dropped) {
    collector_.Remove(obj.get());
    obj->Stop();
    if (deps_.metrics) deps_.metrics->RemoveScaledObject(obj->spec().key.ns, obj->spec().key.name);
    telemetry::Logger("engine")->info("{}: forgotten after {} without requests", obj->spec().key.ToString(),
                                      FormatDuration(idle_forget_));
  }
  if (!dropped.empty() && deps_.metrics) deps_.metrics->SetTrackedScaledObjects(List().size());
  return dropped.size();
}

void ScalerEngine::StopAll() {
  std::map<spec::ScaledObjectKey, Entry> entries;
  {
    std::lock_guard lock(mu_);
    entries.swap(entries_);
  }
  for (auto& [k, e] : entries) {
    if (!e.object) continue;
    collector_.Remove(e.object.get());
    e.object->Stop();
  }
}

}  // namespace nimscaler::engine
