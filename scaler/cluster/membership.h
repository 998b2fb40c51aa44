#pragma once
// Membership: the replicas of one nim-scaler Deployment, as Kubernetes lists them. The ready
// endpoints of the replicas' headless Service (--peers-service) are the peers; each is known
// by "address:port" of its gRPC port. No consensus of our own: every replica reads the same
// EndpointSlices, so all agree once the API server's view has reached them.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "scaler/cluster/rendezvous.h"
#include "scaler/common/clock.h"
#include "scaler/sources/discovery/endpoint_slice_watch.h"

namespace nimscaler::cluster {

/// Thread-safe.
class Membership {
 public:
  /// Peers from `watch`: its ready, not terminating endpoints, each with the slice port named
  /// `port_name`, or `default_port` when the slice has no port of that name.
  Membership(std::string self, std::shared_ptr<sources::EndpointSliceWatch> watch, std::string port_name,
             int default_port, const Clock* clock);
  /// A fixed peer list (tests).
  Membership(std::string self, std::vector<std::string> peers);

  /// This replica's own "address:port" (--advertise-addr).
  const std::string& self() const { return self_; }

  /// The peers, sorted; {self} while the list is unknown or empty (a lone replica owns all).
  /// Re-read from the watch at most every 200 ms once known (at every call before).
  std::vector<std::string> Peers() const;

  /// True once the peer list has been read from Kubernetes at least once (always for a fixed
  /// list). Before that Peers() is {self}: a replica may not know yet that it is not alone.
  bool Known() const;

  /// Owner and successor of `key` among Peers().
  Owners OwnersOf(const std::string& key) const { return cluster::OwnersOf(key, Peers()); }

 private:
  const std::string self_;
  const std::shared_ptr<sources::EndpointSliceWatch> watch_;
  const std::string port_name_;
  const int default_port_ = 0;
  const Clock* clock_ = nullptr;
  mutable std::mutex mu_;
  mutable std::vector<std::string> peers_;
  mutable TimePoint read_at_{};
  mutable bool known_ = false;
};

}  // namespace nimscaler::cluster
