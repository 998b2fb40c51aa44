// Router: owner first, successor next, self answers; failed peers avoided for a while.
#include "scaler/cluster/router.h"

#include <gtest/gtest.h>

namespace nimscaler::cluster {
namespace {

using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return now; }
  TimePoint now = TimePoint(100s);
};

const std::vector<std::string> kPeers = {"10.0.0.1:9090", "10.0.0.2:9090", "10.0.0.3:9090"};

TEST(Router, EachReplicaSendsATriggerToItsOwnerWhoAnswersItself) {
  FakeClock clock;
  for (int i = 0; i < 50; ++i) {
    std::string key = TriggerKey("ns", "so-" + std::to_string(i), 42);
    Owners owners = OwnersOf(key, kPeers);
    for (const auto& self : kPeers) {
      Membership m(self, kPeers);
      Router r(&m, &clock);
      auto targets = r.Targets(key);
      if (self == owners.owner) {
        EXPECT_TRUE(targets.empty());
        EXPECT_TRUE(r.Keeps(key));
      } else if (self == owners.successor) {
        EXPECT_EQ(targets, std::vector<std::string>{owners.owner}) << "the successor tries the owner first";
        EXPECT_TRUE(r.Keeps(key));
      } else {
        EXPECT_EQ(targets, (std::vector<std::string>{owners.owner, owners.successor}));
        EXPECT_FALSE(r.Keeps(key));
      }
    }
  }
}

TEST(Router, AFailedOwnerIsAvoidedForAWhileAndItsSuccessorTakesOver) {
  FakeClock clock;
  std::string key = TriggerKey("ns", "so", 7);
  Owners owners = OwnersOf(key, kPeers);
  std::string third;
  for (const auto& p : kPeers) {
    if (!owners.Includes(p)) third = p;
  }
  Membership m(third, kPeers);
  Router r(&m, &clock, 3s);
  r.Failed(owners.owner);
  auto targets = r.Targets(key);
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(targets[0], owners.successor);
  EXPECT_EQ(r.OwnersOf(key).owner, owners.successor);
  // It does not collect the trigger: the avoided owner still comes last, never "answer here".
  EXPECT_EQ(targets, (std::vector<std::string>{owners.successor, owners.owner}));
  r.Failed(owners.successor);
  EXPECT_EQ(r.Targets(key), (std::vector<std::string>{owners.owner, owners.successor}))
      << "issue 12: a third replica answers from its own data only when both fail now";
  EXPECT_TRUE(r.Targets(key, /*avoided_last=*/false).empty()) << "a relayed stream does not retry them at once";
  clock.now += 4s;
  EXPECT_EQ(r.Targets(key)[0], owners.owner) << "tried again after the avoidance period";
}

TEST(Router, TheSuccessorAnswersForAFailedOwner) {
  FakeClock clock;
  std::string key = TriggerKey("ns", "so", 7);
  Owners owners = OwnersOf(key, kPeers);
  Membership m(owners.successor, kPeers);
  Router r(&m, &clock, 3s);
  r.Failed(owners.owner);
  EXPECT_TRUE(r.Targets(key).empty()) << "its windows are warm: it answers";
}

TEST(Router, TheOwnerWarmsItsSuccessorOncePerPeriodAndOnChange) {
  FakeClock clock;
  std::string key = TriggerKey("ns", "so", 9);
  Owners owners = OwnersOf(key, kPeers);
  Membership m(owners.owner, kPeers);
  Router r(&m, &clock);
  EXPECT_EQ(r.SuccessorToWarm(key, 60s), owners.successor);
  EXPECT_EQ(r.SuccessorToWarm(key, 60s), "");
  clock.now += 61s;
  EXPECT_EQ(r.SuccessorToWarm(key, 60s), owners.successor);
  // Issue 12 ("never three"): a successor that failed a call is not replaced by the third
  // replica, which would then collect the trigger too; the peer list decides.
  r.Failed(owners.successor);
  EXPECT_EQ(r.SuccessorToWarm(key, 60s), "");
  Membership other(owners.successor, kPeers);
  Router not_owner(&other, &clock);
  EXPECT_EQ(not_owner.SuccessorToWarm(key, 60s), "");
}

TEST(Router, ALoneReplicaAnswersEverything) {
  FakeClock clock;
  Membership m("10.0.0.9:9090", std::vector<std::string>{});
  Router r(&m, &clock);
  EXPECT_TRUE(r.Targets(TriggerKey("a", "b", 1)).empty());
  EXPECT_TRUE(r.Keeps(TriggerKey("a", "b", 1)));
}

}  // namespace
}  // namespace nimscaler::cluster
