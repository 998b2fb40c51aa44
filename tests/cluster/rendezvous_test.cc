// Ownership by rendezvous hashing: agreement, spread, and minimal movement.
#include "scaler/cluster/rendezvous.h"

#include <gtest/gtest.h>

#include <map>

namespace nimscaler::cluster {
namespace {

std::vector<std::string> Peers(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("10.0.0." + std::to_string(i + 1) + ":9090");
  return out;
}

std::string Key(int i) { return "ns/so-" + std::to_string(i) + "/" + std::to_string(i * 7919); }

TEST(Rendezvous, OwnersAreTheTopTwoOfTheRankWhateverTheListOrder) {
  auto peers = Peers(5);
  auto reversed = std::vector<std::string>(peers.rbegin(), peers.rend());
  for (int i = 0; i < 200; ++i) {
    auto rank = Rank(Key(i), peers);
    auto o = OwnersOf(Key(i), peers);
    EXPECT_EQ(o.owner, rank[0]);
    EXPECT_EQ(o.successor, rank[1]);
    auto r = OwnersOf(Key(i), reversed);
    EXPECT_EQ(r.owner, o.owner);
    EXPECT_EQ(r.successor, o.successor);
    EXPECT_NE(o.owner, o.successor);
  }
}

TEST(Rendezvous, OnePeerOwnsAllWithoutSuccessorNoPeerOwnsNothing) {
  auto o = OwnersOf("k", Peers(1));
  EXPECT_EQ(o.owner, Peers(1)[0]);
  EXPECT_TRUE(o.successor.empty());
  EXPECT_TRUE(OwnersOf("k", {}).owner.empty());
}

TEST(Rendezvous, TriggersSpreadEvenly) {
  auto peers = Peers(3);
  std::map<std::string, int> owned;
  constexpr int kKeys = 3000;
  for (int i = 0; i < kKeys; ++i) ++owned[OwnersOf(Key(i), peers).owner];
  ASSERT_EQ(owned.size(), 3u);
  for (const auto& [p, n] : owned) {
    EXPECT_GT(n, kKeys / 3 * 0.85) << p;
    EXPECT_LT(n, kKeys / 3 * 1.15) << p;
  }
}

// A membership change moves only the triggers whose top two included the peer that changed.
TEST(Rendezvous, RemovingAPeerMovesOnlyItsTriggers) {
  auto three = Peers(3);
  std::vector<std::string> two = {three[0], three[2]};
  int moved = 0;
  for (int i = 0; i < 3000; ++i) {
    auto before = OwnersOf(Key(i), three);
    auto after = OwnersOf(Key(i), two);
    if (!before.Includes(three[1])) {
      EXPECT_EQ(before.owner, after.owner) << Key(i);
      EXPECT_EQ(before.successor, after.successor) << Key(i);
    } else {
      ++moved;
      // The survivor of the old top two stays in the new top two (its windows are warm).
      const std::string& survivor = before.owner == three[1] ? before.successor : before.owner;
      EXPECT_TRUE(after.Includes(survivor));
      if (before.owner == three[1]) {
        EXPECT_EQ(after.owner, before.successor) << "the successor takes over";
      }
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(Rendezvous, AddingAPeerTakesAboutItsShare) {
  auto three = Peers(3);
  auto four = Peers(4);
  int owner_changed = 0;
  for (int i = 0; i < 4000; ++i) {
    auto before = OwnersOf(Key(i), three);
    auto after = OwnersOf(Key(i), four);
    if (before.owner != after.owner) {
      ++owner_changed;
      EXPECT_EQ(after.owner, four[3]) << "only the new peer takes ownership";
    }
  }
  EXPECT_GT(owner_changed, 4000 / 4 * 0.8);
  EXPECT_LT(owner_changed, 4000 / 4 * 1.2);
}

}  // namespace
}  // namespace nimscaler::cluster
