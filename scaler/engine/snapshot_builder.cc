// Exports SnapshotBuilder: a trigger's snapshot from a cycle's shared responses (no I/O).
#include "scaler/engine/snapshot_builder.h"

#include <cmath>
#include <map>

#include "scaler/common/text.h"

namespace nimscaler::engine {
namespace {

// The readings of `previous` (pods or front door endpoints) by URL.
std::map<std::string_view, const signals::PodReading*> ByEndpoint(const std::vector<signals::PodReading>* previous) {
  std::map<std::string_view, const signals::PodReading*> out;
  if (previous == nullptr) return out;
  for (const auto& p : *previous) out[p.endpoint] = &p;
  return out;
}

const signals::PodReading* Find(const std::map<std::string_view, const signals::PodReading*>& before,
                                const std::string& url) {
  auto it = before.find(url);
  return it == before.end() ? nullptr : it->second;
}

}  // namespace

void SnapshotBuilder::Say(std::vector<SnapshotEvent>* events, bool warning, std::optional<size_t> pod,
                          const std::string& what) const {
  // The trigger's name is put together here, when there is something to say, not per pod.
  events->push_back({warning, pod, spec_->key.ToString() + ": " + what});
}

SnapshotBuilder::SnapshotBuilder(trigger::ScalerSpecConstPtr spec, std::shared_ptr<net::HttpClient> http)
    : spec_(std::move(spec)), source_(spec_->scrape, http) {
  if (spec_->front_door) front_door_source_.emplace(spec_->front_door->scrape, http);
}

BuiltSnapshot SnapshotBuilder::Build(const CycleData& data, const signals::SnapshotConstPtr& previous) {
  BuiltSnapshot out;
  auto snap = std::make_shared<signals::Snapshot>();
  snap->taken_at = data.started;
  snap->cycle = previous ? previous->cycle + 1 : 1;
  snap->discovered = data.discovered;
  snap->discovery_error = data.discovery_error;
  if (!data.discovery_error.empty() && (previous == nullptr || previous->discovery_error != data.discovery_error)) {
    Say(&out.events, true, std::nullopt, "discovery: " + data.discovery_error);
  }
  const auto before = ByEndpoint(previous ? &previous->pods : nullptr);
  snap->pods.reserve(data.urls.size());
  for (size_t i = 0; i < data.urls.size(); ++i) {
    snap->pods.push_back(ReadPod(data, i, Find(before, data.urls[i]), &out));
  }
  ReadFrontDoor(data, previous.get(), snap.get(), &out.events);
  out.snapshot = std::move(snap);
  return out;
}

signals::PodReading SnapshotBuilder::ReadPod(const CycleData& data, size_t i, const signals::PodReading* prev,
                                             BuiltSnapshot* out) {
  const std::string& url = data.urls[i];
  auto scraped = source_.Interpret(url, data.responses[i]);  // this trigger's signals from the shared body
  (scraped.ok() ? out->scrapes_ok : out->scrapes_failed) += 1;
  signals::PodReading reading;
  reading.endpoint = url;
  if (scraped.ok()) {
    reading = sources::ReadingFromScrape(url, *scraped, data.started);
    // Issue 15 item 2: which preset `engine: auto` chose is said once per trigger (and once more
    // for each other engine a later pod turns out to run).
    if (spec_->scrape.engine == "auto" && !reading.engine.empty() && auto_engines_seen_.insert(reading.engine).second) {
      Say(&out->events, false, i, "engine auto detected " + reading.engine + " on pod " + url);
    }
    if (prev != nullptr && !prev->answered) Say(&out->events, false, i, "pod " + url + " answers again");
    return reading;
  }
  reading.error = scraped.status().message();
  reading.unreadable_metrics = scraped.status().code() == Code::kFailedPrecondition;
  // A gauge is a point-in-time level: a recent one is better than none, so a failed pod keeps its
  // last gauges for 3 x scrapeInterval (docs/operations.md "What KEDA gets, and when"). Rates are
  // never carried over.
  if (prev != nullptr && prev->last_success && data.started - *prev->last_success <= spec_->stale_keep) {
    reading.stale = true;
    reading.gauges = prev->gauges;
    reading.kinds = prev->kinds;
    reading.engine = prev->engine;
  }
  if (prev != nullptr) reading.last_success = prev->last_success;
  if (prev == nullptr || prev->answered) {
    Say(&out->events, true, i, "scrape of " + url + " failed: " + reading.error);
  }
  return reading;
}

void SnapshotBuilder::ReadFrontDoor(const CycleData& data, const signals::Snapshot* previous, signals::Snapshot* snap,
                                    std::vector<SnapshotEvent>* events) const {
  if (!front_door_source_) return;
  snap->front_door_error = data.front_door_error;
  if (!data.front_door_error.empty() && (previous == nullptr || previous->front_door_error != data.front_door_error)) {
    Say(events, true, std::nullopt, "front door: " + data.front_door_error);
  }
  const auto before = ByEndpoint(previous ? &previous->front_door : nullptr);
  for (size_t i = 0; i < data.front_door_urls.size(); ++i) {
    const std::string& url = data.front_door_urls[i];
    const signals::PodReading* prev = Find(before, url);
    auto scraped = front_door_source_->Interpret(url, data.front_door_responses[i]);
    signals::PodReading reading;
    if (scraped.ok()) {
      reading = sources::ReadingFromScrape(url, *scraped, data.started);
      // A series the front door does not serve is no request: Envoy creates a cluster's stats at
      // its first request, flow control's queue exists only with its feature gate on. Read as 0,
      // and said once.
      for (const auto& signal : spec_->front_door->scrape.signals) {
        auto g = reading.gauges.find(signal);
        if (g == reading.gauges.end() || !std::isfinite(g->second)) reading.gauges[signal] = 0;
      }
      if (!reading.missing.empty() && (prev == nullptr || prev->missing != reading.missing)) {
        Say(events, false, std::nullopt, "front door " + url + ": " + reading.missing + "; read as 0");
      }
      if (prev != nullptr && !prev->answered) {
        Say(events, false, std::nullopt, "front door " + url + " answers again");
      }
    } else {
      reading.endpoint = url;
      reading.error = scraped.status().message();
      if (prev != nullptr) reading.last_success = prev->last_success;
      if (prev == nullptr || prev->answered) {
        Say(events, true, std::nullopt, "front door scrape of " + url + " failed: " + reading.error);
      }
    }
    snap->front_door.push_back(std::move(reading));
  }
}

}  // namespace nimscaler::engine
