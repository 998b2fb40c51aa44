// Exports WakePoller.
#include "scaler/engine/wake_poller.h"

#include <algorithm>

#include "scaler/engine/tracked_object.h"

namespace nimscaler::engine {

WakePoller::WakePoller(const Clock* clock, size_t threads) : clock_(clock) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) threads_.emplace_back([this] { Work(); });
}

WakePoller::~WakePoller() { Stop(); }

void WakePoller::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WakePoller::Add(const std::shared_ptr<TrackedObject>& object) {
  std::lock_guard lock(mu_);
  if (stop_ || !members_.emplace(object.get(), object).second) return;
  due_.emplace(clock_->Now(), object);
  cv_.notify_one();
}

void WakePoller::Remove(const std::vector<const TrackedObject*>& objects) {
  std::lock_guard lock(mu_);
  for (const TrackedObject* o : objects) members_.erase(o);  // its queue entry just expires
}

void WakePoller::Work() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto next = due_.begin();
    TimePoint now = clock_->Now();
    if (next->first > now) {
      cv_.wait_for(lock, std::min<Duration>(next->first - now, std::chrono::seconds(1)));
      continue;
    }
    std::shared_ptr<TrackedObject> object = next->second.lock();
    due_.erase(next);
    if (object == nullptr || members_.count(object.get()) == 0) continue;  // removed meanwhile
    lock.unlock();
    TimePoint start = clock_->Now();
    object->PollWakeQuery(start);  // network I/O, bounded by the query's timeout; no lock held
    lock.lock();
    if (members_.count(object.get()) == 0) continue;
    due_.emplace(start + object->spec().scrape_interval, object);
  }
}

}  // namespace nimscaler::engine
