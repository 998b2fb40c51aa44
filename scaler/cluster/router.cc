// Exports Router and TriggerKey().
#include "scaler/cluster/router.h"

#include <algorithm>
#include <cstdio>

namespace nimscaler::cluster {

std::string TriggerKey(const std::string& ns, const std::string& name, uint64_t metadata_hash) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(metadata_hash));
  return ns + "/" + name + "/" + hex;
}

Router::Router(const Membership* membership, const Clock* clock, Duration avoid_for)
    : membership_(membership), clock_(clock), avoid_for_(avoid_for) {}

std::vector<std::string> Router::LivePeers(std::vector<std::string> peers) const {
  std::lock_guard lock(mu_);
  if (avoid_until_.empty()) return peers;
  TimePoint now = clock_->Now();
  std::erase_if(peers, [&](const std::string& p) {
    if (p == membership_->self()) return false;
    auto it = avoid_until_.find(p);
    return it != avoid_until_.end() && now < it->second;
  });
  return peers;
}

Owners Router::OwnersOf(const std::string& key) const { return cluster::OwnersOf(key, LivePeers(Peers())); }

std::vector<std::string> Router::Targets(const std::string& key, bool avoided_last) const {
  std::vector<std::string> peers = Peers();
  Owners o = cluster::OwnersOf(key, LivePeers(peers));
  std::vector<std::string> out;
  for (const std::string* p : {&o.owner, &o.successor}) {
    if (p->empty() || *p == self()) break;  // self in the top two: answer here from there on
    out.push_back(*p);
  }
  // A replica that collects the trigger answers it when the replicas before it failed lately
  // (its windows are warm). A third replica does not collect it: the owner and successor by
  // the peer list stay in line after the others, however lately they failed, so it answers
  // from its own (cold) data only when they fail now.
  if (!avoided_last) return out;
  Owners listed = cluster::OwnersOf(key, peers);
  if (!listed.Includes(self())) {
    for (const std::string* p : {&listed.owner, &listed.successor}) {
      if (!p->empty() && std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
    }
  }
  return out;
}

void Router::Failed(const std::string& peer) {
  std::lock_guard lock(mu_);
  TimePoint now = clock_->Now();
  std::erase_if(avoid_until_, [&](const auto& kv) { return kv.second <= now; });
  avoid_until_[peer] = now + avoid_for_;
}

std::string Router::SuccessorToWarm(const std::string& key, Duration every) {
  // By the peer list, not the live peers: a successor that failed a call lately is not replaced
  // by a third replica (which would then collect the trigger too, for a transient failure);
  // once Kubernetes drops a dead successor, the new one is warmed at once.
  Owners o = cluster::OwnersOf(key, Peers());
  if (o.owner != self() || o.successor.empty()) return "";
  std::lock_guard lock(mu_);
  TimePoint now = clock_->Now();
  if (warmed_.size() > 100000) warmed_.clear();  // bounded; the worst case is one early re-warm each
  auto& w = warmed_[key];
  if (w.successor == o.successor && now - w.at < every) return "";
  w = Warmed{o.successor, now};
  return o.successor;
}

}  // namespace nimscaler::cluster
