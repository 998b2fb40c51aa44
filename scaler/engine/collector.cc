// Exports Collector: grouping, scheduling with a per-group phase (jitter), and the shared
// discover -> fetch -> per-member ingest cycle.
#include "scaler/engine/collector.h"

#include <algorithm>
#include <random>

#include "scaler/common/text.h"
#include "scaler/common/thread_priority.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::engine {

struct Collector::Group {
  std::string key;
  Duration interval{};
  net::HttpRequestOptions http;
  std::unique_ptr<sources::PodDiscovery> discovery;
  // The members' front door (frontDoor): fetched in the same cycle, after the pods.
  std::unique_ptr<sources::PodDiscovery> front_door;
  net::HttpRequestOptions front_door_http;
  std::vector<sources::PodEndpoint> front_door_last;    // worker-owned: its endpoints last listed
  std::vector<std::shared_ptr<TrackedObject>> members;  // guarded by Collector::mu_
  std::vector<sources::PodEndpoint> last_pods;          // worker-owned: the pods last listed
  bool listed_once = false;                             // worker-owned
  bool running = false;                                 // guarded by Collector::mu_
  bool run_again = false;                               // guarded by Collector::mu_
  TimePoint origin{};  // runs are aligned to origin + k x interval: a random phase per group
                       // (jitter) so groups created together do not all scrape together
};

std::string Collector::GroupKey(const trigger::ScalerSpec& spec) {
  // Everything that decides which pods are fetched and how: triggers share a group (and its
  // responses) only when all of it is equal. Credentials, headers and CA decide what a pod
  // answers and who may read it, so they are in (net::OptionsKey covers every request option).
  // Length-prefixed, so no value can imitate another split; the key is never logged.
  std::string key;
  auto field = [&key](std::string_view v) { AppendKeyField(&key, v); };
  field(sources::DiscoveryKey(spec.discovery));
  field(std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(spec.scrape_interval).count()));
  field(net::OptionsKey(spec.scrape.http));
  if (const auto& fd = spec.front_door) {
    field("front door");
    field(sources::DiscoveryKey(fd->discovery));
    field(net::OptionsKey(fd->scrape.http));
  }
  return key;
}

Collector::Collector(EngineDeps deps, size_t workers) : deps_(std::move(deps)) {
  for (size_t i = 0; i < std::max<size_t>(1, workers); ++i) workers_.emplace_back([this] { Work(); });
}

Collector::~Collector() { Stop(); }

void Collector::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  stopping_.store(true);
  cv_.notify_all();
  for (auto& w : workers_) w.join();
  deps_.http->CloseIdleConnections();
}

size_t Collector::groups() const {
  std::lock_guard lock(mu_);
  return groups_.size();
}

Status Collector::Add(const std::shared_ptr<TrackedObject>& object) {
  const trigger::ScalerSpec& spec = object->spec();
  std::string key = GroupKey(spec);
  std::shared_ptr<Group> group;
  {
    std::lock_guard lock(mu_);
    if (auto it = groups_.find(key); it != groups_.end()) group = it->second;
  }
  if (group == nullptr) {
    // Building a discovery may start a watch thread: done outside mu_.
    auto discovery = deps_.discovery->Make(spec.discovery);
    if (!discovery.ok()) return discovery.status();
    auto fresh = std::make_shared<Group>();
    fresh->key = key;
    fresh->interval = spec.scrape_interval;
    fresh->http = spec.scrape.http;
    fresh->discovery = std::move(discovery).value();
    if (spec.front_door) {
      auto front_door = deps_.discovery->Make(spec.front_door->discovery);
      if (!front_door.ok()) return front_door.status();
      fresh->front_door = std::move(front_door).value();
      fresh->front_door_http = spec.front_door->scrape.http;
    }
    static thread_local std::mt19937_64 rng(std::random_device{}());
    auto span =
        std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::microseconds>(spec.scrape_interval).count() / 10);
    fresh->origin =
        deps_.clock->Now() + std::chrono::microseconds(std::uniform_int_distribution<int64_t>(0, span - 1)(rng));
    std::lock_guard lock(mu_);
    auto [it, inserted] = groups_.emplace(key, fresh);
    group = it->second;  // another thread may have created it meanwhile: use theirs
  }
  std::lock_guard lock(mu_);
  // The group may have been emptied and dropped since we found it: put it back.
  group = groups_.try_emplace(key, group).first->second;
  group->members.push_back(object);
  group_of_[object.get()] = group;
  // Run the group now so the new member's first answer does not wait a whole interval.
  if (group->running) {
    group->run_again = true;
  } else {
    std::erase_if(queue_, [&](const auto& kv) { return kv.second.lock() == group; });
    queue_.emplace(deps_.clock->Now(), group);
  }
  cv_.notify_one();
  return Status::Ok();
}

void Collector::Remove(const std::vector<const TrackedObject*>& objects) {
  std::vector<std::shared_ptr<Group>> dropped;  // destroyed (discovery stopped) outside mu_
  bool none_left = false;
  {
    std::lock_guard lock(mu_);
    std::unordered_map<Group*, std::unordered_set<const TrackedObject*>> by_group;
    for (const TrackedObject* object : objects) {
      auto it = group_of_.find(object);
      if (it == group_of_.end()) continue;
      by_group[it->second.get()].insert(object);
      group_of_.erase(it);
    }
    for (auto& [group, gone] : by_group) {
      std::erase_if(group->members, [&](const auto& m) { return gone.count(m.get()) > 0; });
      if (!group->members.empty()) continue;
      auto git = groups_.find(group->key);
      if (git == groups_.end()) continue;
      dropped.push_back(std::move(git->second));
      groups_.erase(git);  // the queue holds weak pointers: it just expires
    }
    none_left = !dropped.empty() && groups_.empty();
  }
  // Nothing left to collect: keep no socket open to any pod (while groups remain, connections of
  // dropped ones are bounded by the client's idle cap and age out; issue 16 item 2).
  if (none_left) deps_.http->CloseIdleConnections();
}

void Collector::Work() {
  // Collection yields the CPU to the threads answering KEDA: under load a call's tail latency
  // no longer waits behind parsing (BENCHMARKS.md "HA").
  if (Status s = MakeBackgroundThread("collect"); !s.ok()) {
    telemetry::Logger("engine")->warn("collection threads keep the default priority: {}", s.message());
  }
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto next = queue_.begin();
    TimePoint now = deps_.clock->Now();
    if (next->first > now) {
      cv_.wait_for(lock, std::min<Duration>(next->first - now, std::chrono::seconds(1)));
      continue;
    }
    std::shared_ptr<Group> group = next->second.lock();
    queue_.erase(next);
    if (group == nullptr || groups_.count(group->key) == 0) continue;  // dropped meanwhile
    group->running = true;
    lock.unlock();
    TimePoint start = deps_.clock->Now();
    RunCycle(*group);
    lock.lock();
    group->running = false;
    if (groups_.count(group->key) == 0) continue;
    TimePoint due;
    if (group->run_again) {
      due = deps_.clock->Now();
    } else if (start < group->origin) {
      due = group->origin;
    } else {
      auto periods = (start - group->origin) / group->interval;  // drift-free: no accumulation
      due = group->origin + (periods + 1) * group->interval;
    }
    group->run_again = false;
    queue_.emplace(due, group);
    cv_.notify_one();
  }
}

void Collector::RunCycle(Group& group) {
  std::vector<std::shared_ptr<TrackedObject>> members;
  {
    std::lock_guard lock(mu_);
    members = group.members;
  }
  if (members.empty()) return;
  CycleData data;
  data.started = deps_.clock->Now();
  auto listed = group.discovery->List();
  // A new watch needs a moment for its first list: let the first cycle wait for it (bounded)
  // rather than publish "discovery not ready" as KEDA's first answer.
  TimePoint give_up = data.started + std::min<Duration>(group.interval, std::chrono::seconds(2));
  while (!group.listed_once && !listed.ok() && listed.status().code() == Code::kUnavailable &&
         deps_.clock->Now() < give_up && !stopping_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    listed = group.discovery->List();
  }
  if (listed.ok()) {
    group.last_pods = std::move(listed).value();
    group.listed_once = true;
    data.discovered = group.last_pods.size();
  } else {
    // Discovery failed: keep scraping the pods we knew (their data is still real), and say why.
    data.discovery_error = listed.status().message();
    data.discovered = group.last_pods.size();
  }
  data.urls.reserve(group.last_pods.size());
  data.pods.reserve(group.last_pods.size());
  for (const auto& pod : group.last_pods) {
    if (pod.ready) {
      data.urls.push_back(pod.url);
      data.pods.push_back(pod.name);
    }
  }
  TimePoint t0 = deps_.clock->Now();
  // Concurrent, no lock held. Connections come from the client's one cache shared by every
  // group (issue 16 item 2), not from a pool per group.
  data.responses = deps_.http->GetAll(data.urls, group.http);
  data.fetch_seconds = ToSeconds(deps_.clock->Now() - t0);
  if (group.front_door != nullptr) {
    // A front door that cannot be listed keeps the endpoints it had, like the pods above.
    if (auto doors = group.front_door->List(); doors.ok()) {
      group.front_door_last = std::move(doors).value();
    } else {
      data.front_door_error = doors.status().message();
    }
    for (const auto& door : group.front_door_last) {
      if (door.ready) data.front_door_urls.push_back(door.url);
    }
    data.front_door_responses = deps_.http->GetAll(data.front_door_urls, group.front_door_http);
  }
  for (auto& m : members) m->Ingest(data);
  deps_.http->Recycle(data.responses);  // the members keep no view into the bodies
  deps_.http->Recycle(data.front_door_responses);
}

}  // namespace nimscaler::engine
