#pragma once
// Rendezvous (highest-random-weight) hashing: which replicas own a trigger. Every replica that
// sees the same peer list computes the same owner and successor, with no coordination; adding
// or removing a peer moves only the triggers whose top two included it. Pure.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nimscaler::cluster {

/// The weight of `peer` for `key`: a 64-bit mix of both (FNV-1a, then a SplitMix64 finaliser
/// so that similar addresses spread evenly).
uint64_t Weight(std::string_view key, std::string_view peer);

/// `peers` ordered by weight for `key`, highest first (ties by address).
std::vector<std::string> Rank(std::string_view key, std::span<const std::string> peers);

struct Owners {
  std::string owner;      ///< empty when there is no peer
  std::string successor;  ///< empty with fewer than two peers
  bool Includes(std::string_view peer) const { return peer == owner || peer == successor; }
};

/// The top two of Rank(), in O(peers) without sorting.
Owners OwnersOf(std::string_view key, std::span<const std::string> peers);

}  // namespace nimscaler::cluster
