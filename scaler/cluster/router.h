#pragma once
// Router: where a KEDA call for a trigger is answered. The owner answers; a replica that is
// not the owner forwards to it, falls back to the successor (whose windows are warm) when the
// owner does not answer, and to itself when neither does. A forwarded call is answered where
// it lands. Peers that failed a call are avoided for a short while, before Kubernetes has
// noticed. No I/O: the service performs the calls this decides.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "scaler/cluster/membership.h"
#include "scaler/common/clock.h"

namespace nimscaler::cluster {

/// A trigger's key for ownership: namespace, name and a hash of the full metadata map.
std::string TriggerKey(const std::string& ns, const std::string& name, uint64_t metadata_hash);

/// Thread-safe.
class Router {
 public:
  Router(const Membership* membership, const Clock* clock, Duration avoid_for = std::chrono::seconds(3));

  /// The replicas to try for `key`, in order; empty means "answer here". Never contains self:
  /// when self is reached in the order, the rest is dropped (self answers). Peers avoided for
  /// a failure are skipped, except by a replica that does not collect the trigger itself: for
  /// it, the owner and successor by the peer list come last instead (unless `avoided_last` is
  /// false: a relayed stream, which would otherwise reconnect to a failing peer at once, in a loop).
  std::vector<std::string> Targets(const std::string& key, bool avoided_last = true) const;

  /// Owner and successor among the peers not being avoided.
  Owners OwnersOf(const std::string& key) const;

  /// True when this replica is the owner or the successor of `key` (it collects it).
  bool Keeps(const std::string& key) const { return OwnersOf(key).Includes(membership_->self()); }

  /// A call to `peer` failed at the transport (not an answer): avoid it for a while.
  void Failed(const std::string& peer);

  /// The successor to warm for `key` when this replica owns it and it was not warmed in the
  /// last `every` (or the successor changed); "" otherwise. Records the warm as done. Owner and
  /// successor by the peer list: a failure does not make a third replica collect the trigger.
  std::string SuccessorToWarm(const std::string& key, Duration every);

  const std::string& self() const { return membership_->self(); }
  std::vector<std::string> Peers() const { return membership_->Peers(); }

 private:
  /// `peers` without those being avoided (self is never avoided).
  std::vector<std::string> LivePeers(std::vector<std::string> peers) const;

  const Membership* membership_;
  const Clock* clock_;
  const Duration avoid_for_;
  mutable std::mutex mu_;
  std::map<std::string, TimePoint> avoid_until_;  // peer -> until
  struct Warmed {
    std::string successor;
    TimePoint at;
  };
  std::map<std::string, Warmed> warmed_;  // key -> last warm (bounded: see SuccessorToWarm)
};

}  // namespace nimscaler::cluster
