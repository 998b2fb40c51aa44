// Exports Selector: a small open-addressing table from family or sample name to the caller's
// label matchers.
#include "scaler/signals/exposition/selector.h"

#include <cstring>
#include <utility>

namespace nimscaler::exposition {

Selector Selector::All() {
  Selector s;
  s.all_ = true;
  return s;
}

uint64_t Selector::Hash(std::string_view s) {
  // 8 bytes at a time, multiply-xorshift mixing: names are short, so this is a few cycles.
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xFF51AFD7ED558CCDull);
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
  }
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 32;
  return h;
}

void Selector::Add(std::string_view name, bool is_sample, bool counter_only, std::vector<LabelMatcher> matchers) {
  Entry e;
  e.name = std::string(name);
  e.hash = Hash(name);
  e.is_sample = is_sample;
  e.counter_only = counter_only;
  e.matchers = std::move(matchers);
  // Chain alternatives: the table points at the first; later ones hang off `next`.
  int first = -1;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& o = entries_[i];
    if (o.is_sample == is_sample && o.counter_only == counter_only && o.name == name) {
      first = static_cast<int>(i);
      break;
    }
  }
  entries_.push_back(std::move(e));
  const int idx = static_cast<int>(entries_.size() - 1);
  if (first >= 0) {
    int tail = first;
    while (entries_[static_cast<size_t>(tail)].next >= 0) {
      tail = entries_[static_cast<size_t>(tail)].next;
    }
    entries_[static_cast<size_t>(tail)].next = idx;
  }
  if (is_sample) ++sample_entries_;
  Rehash();
}

void Selector::Rehash() {
  size_t cap = 16;
  while (cap < entries_.size() * 4) cap *= 2;
  slots_.assign(cap, -1);
  std::vector<bool> chained(entries_.size(), false);
  for (const Entry& e : entries_) {
    if (e.next >= 0) chained[static_cast<size_t>(e.next)] = true;
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (chained[i]) continue;
    size_t s = entries_[i].hash & (cap - 1);
    while (slots_[s] >= 0) s = (s + 1) & (cap - 1);
    slots_[s] = static_cast<int32_t>(i);
  }
}

Selector& Selector::AddFamily(std::string_view name, std::vector<LabelMatcher> matchers) {
  constexpr std::string_view kTotal = "_total";
  Add(name, false, false, matchers);
  if (name.size() > kTotal.size() && name.substr(name.size() - kTotal.size()) == kTotal) {
    Add(name.substr(0, name.size() - kTotal.size()), false, true, std::move(matchers));
  } else {
    Add(std::string(name) + std::string(kTotal), false, true, std::move(matchers));
  }
  return *this;
}

Selector& Selector::AddSample(std::string_view name, std::vector<LabelMatcher> matchers) {
  Add(name, true, false, std::move(matchers));
  return *this;
}

int Selector::Find(std::string_view name, bool is_sample) const {
  if (slots_.empty()) return -1;
  const uint64_t h = Hash(name);
  const size_t mask = slots_.size() - 1;
  size_t s = h & mask;
  int counter_alias = -1;
  while (slots_[s] >= 0) {
    const Entry& e = entries_[static_cast<size_t>(slots_[s])];
    if (e.hash == h && e.is_sample == is_sample && e.name == name) {
      if (!e.counter_only) return slots_[s];
      counter_alias = slots_[s];
    }
    s = (s + 1) & mask;
  }
  return counter_alias;
}

int Selector::FindFamily(std::string_view name, MetricType type) const {
  const int i = Find(name, false);
  if (i < 0) return -1;
  if (entries_[static_cast<size_t>(i)].counter_only && type != MetricType::kCounter) return -1;
  return i;
}

int Selector::FindSample(std::string_view name) const { return Find(name, true); }

bool Selector::HasMatchers(int index) const {
  for (int i = index; i >= 0; i = entries_[static_cast<size_t>(i)].next) {
    if (!entries_[static_cast<size_t>(i)].matchers.empty()) return true;
  }
  return false;
}

bool Selector::Accepts(int index, std::span<const Label> labels) const {
  for (int i = index; i >= 0; i = entries_[static_cast<size_t>(i)].next) {
    bool ok = true;
    for (const LabelMatcher& m : entries_[static_cast<size_t>(i)].matchers) {
      std::string_view v;
      for (const Label& l : labels) {
        if (l.name == m.name) {
          v = l.value;
          break;
        }
      }
      if ((v == m.value) != m.equal) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

}  // namespace nimscaler::exposition
