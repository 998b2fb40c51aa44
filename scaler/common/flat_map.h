#pragma once
// FlatMap: a map kept as one sorted vector. For the handful of entries a pod reading holds
// (a trigger's signals), it costs one allocation instead of one tree node per entry, and
// iterates in key order like std::map. Insertion is O(n): not for large maps.

#include <algorithm>
#include <initializer_list>
#include <stdexcept>
#include <utility>
#include <vector>

namespace nimscaler {

template <typename K, typename V>
class FlatMap {
 public:
  using value_type = std::pair<K, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  FlatMap() = default;
  FlatMap(std::initializer_list<value_type> entries) {
    for (const auto& e : entries) (*this)[e.first] = e.second;
  }

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }

  template <typename Key>
  iterator find(const Key& key) {
    auto it = LowerBound(key);
    return it != entries_.end() && !(key < it->first) ? it : entries_.end();
  }
  template <typename Key>
  const_iterator find(const Key& key) const {
    return const_cast<FlatMap*>(this)->find(key);
  }
  template <typename Key>
  size_t count(const Key& key) const {
    return find(key) == end() ? 0 : 1;
  }
  template <typename Key>
  bool contains(const Key& key) const {
    return count(key) != 0;
  }

  /// The value at key; std::out_of_range when absent (as std::map's).
  template <typename Key>
  const V& at(const Key& key) const {
    auto it = find(key);
    if (it == end()) throw std::out_of_range("FlatMap::at: no such key");
    return it->second;
  }

  /// The value at key, inserted value-initialised when absent (as std::map's).
  V& operator[](const K& key) {
    auto it = LowerBound(key);
    if (it == entries_.end() || key < it->first) it = entries_.insert(it, value_type(key, V{}));
    return it->second;
  }

  bool operator==(const FlatMap& o) const = default;

 private:
  template <typename Key>
  iterator LowerBound(const Key& key) {
    return std::lower_bound(entries_.begin(), entries_.end(), key,
                            [](const value_type& e, const Key& k) { return e.first < k; });
  }

  std::vector<value_type> entries_;
};

}  // namespace nimscaler
