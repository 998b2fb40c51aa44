// Exports Weight(), Rank() and OwnersOf().
#include "scaler/cluster/rendezvous.h"

#include <algorithm>
#include <utility>

namespace nimscaler::cluster {

uint64_t Weight(std::string_view key, std::string_view peer) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(key);
  mix(std::string_view("\0", 1));  // "ab"+"c" and "a"+"bc" are different pairs
  mix(peer);
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

namespace {
// Higher weight first; equal weights (practically never) by address, so the order is total.
bool Before(const std::pair<uint64_t, const std::string*>& a, const std::pair<uint64_t, const std::string*>& b) {
  return a.first != b.first ? a.first > b.first : *a.second < *b.second;
}
}  // namespace

std::vector<std::string> Rank(std::string_view key, std::span<const std::string> peers) {
  std::vector<std::pair<uint64_t, const std::string*>> weighted;
  weighted.reserve(peers.size());
  for (const auto& p : peers) weighted.emplace_back(Weight(key, p), &p);
  std::sort(weighted.begin(), weighted.end(), Before);
  std::vector<std::string> out;
  out.reserve(weighted.size());
  for (const auto& [w, p] : weighted) out.push_back(*p);
  return out;
}

Owners OwnersOf(std::string_view key, std::span<const std::string> peers) {
  std::pair<uint64_t, const std::string*> first{0, nullptr}, second{0, nullptr};
  for (const auto& p : peers) {
    std::pair<uint64_t, const std::string*> w{Weight(key, p), &p};
    if (first.second == nullptr || Before(w, first)) {
      second = first;
      first = w;
    } else if (second.second == nullptr || Before(w, second)) {
      second = w;
    }
  }
  Owners o;
  if (first.second) o.owner = *first.second;
  if (second.second) o.successor = *second.second;
  return o;
}

}  // namespace nimscaler::cluster
