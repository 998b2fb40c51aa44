// Exports SpecBuilders.
#include "scaler/service/spec_builders.h"

#include <pthread.h>

#include <exception>

namespace nimscaler::service {

SpecBuilders::SpecBuilders(BuildFn build, size_t threads, size_t max_queued)
    : build_(std::move(build)), max_queued_(max_queued) {
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Run(); });
    pthread_setname_np(threads_.back().native_handle(), "spec-builder");
  }
}

SpecBuilders::~SpecBuilders() { Stop(); }

void SpecBuilders::Submit(std::string ns, std::string name, config::Metadata md, Done done) {
  std::string refused;
  {
    std::lock_guard lock(mu_);
    Key key{std::move(ns), std::move(name), std::move(md)};
    auto it = waiting_.find(key);
    if (stop_) {
      refused = "the scaler is shutting down; ask another replica";
    } else if (it != waiting_.end()) {
      it->second.push_back(std::move(done));  // the same trigger is already queued or building
      return;
    } else if (queue_.size() >= max_queued_) {
      refused = std::to_string(queue_.size()) +
                " new triggers are waiting for their metadata to be checked; this one was not queued, "
                "the next call will try again";
    } else {
      it = waiting_.emplace(std::move(key), std::vector<Done>{}).first;
      it->second.push_back(std::move(done));
      queue_.push_back(&it->first);
      cv_.notify_one();
      return;
    }
  }
  done(Unavailable(refused));
}

void SpecBuilders::Stop() {
  std::map<Key, std::vector<Done>> dropped;
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    for (const Key* k : queue_) dropped.insert(waiting_.extract(*k));
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& [key, dones] : dropped) {
    for (auto& d : dones) d(Unavailable("the scaler is shutting down; ask another replica"));
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t SpecBuilders::pending() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

void SpecBuilders::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopped
    const Key* key = queue_.front();
    queue_.pop_front();
    lock.unlock();
    // The key stays in waiting_ (and valid) until extracted below, by this thread only.
    Answer answer = Unavailable("unreachable");
    try {
      answer = build_(std::get<0>(*key), std::get<1>(*key), std::get<2>(*key));
    } catch (const std::exception& e) {  // never let an exception end the thread
      answer = Internal(std::string("building the trigger failed: ") + e.what());
    }
    lock.lock();
    auto node = waiting_.extract(*key);
    lock.unlock();
    for (auto& d : node.mapped()) d(answer);  // no lock held: answering writes to gRPC
    lock.lock();
  }
}

}  // namespace nimscaler::service
