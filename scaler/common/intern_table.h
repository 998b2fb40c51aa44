#pragma once
// InternTable: one shared, immutable value per key while anyone holds it (issue 16 item 3).
// Thousands of triggers with the same formula text or the same scrape configuration share one
// compiled Program or one parse plan instead of a copy each. The table holds weak pointers: a
// value lives as long as its users, and expired entries are swept as the table grows.

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace nimscaler {

/// Thread-safe. T must be immutable once shared.
template <typename T>
class InternTable {
 public:
  /// The live value interned under `key`, or nullptr.
  std::shared_ptr<const T> Find(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second.lock();
  }

  /// Interns `value` under `key` unless a live value is there already (another caller built the
  /// same one meanwhile); returns the one to use.
  std::shared_ptr<const T> Intern(const std::string& key, std::shared_ptr<const T> value) {
    std::lock_guard lock(mu_);
    auto& slot = entries_[key];
    if (auto live = slot.lock()) return live;
    slot = value;
    if (entries_.size() >= sweep_at_) {  // amortized: a sweep per doubling
      for (auto it = entries_.begin(); it != entries_.end();) {
        it = it->second.expired() ? entries_.erase(it) : std::next(it);
      }
      sweep_at_ = std::max<size_t>(64, 2 * entries_.size());
    }
    return value;
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::weak_ptr<const T>> entries_;
  size_t sweep_at_ = 64;
};

}  // namespace nimscaler
