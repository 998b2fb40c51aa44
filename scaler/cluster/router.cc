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

std::vector<std::string> Router::LivePeers() const {
  std::vector<std::string> peers = membership_->Peers();
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

Owners Router::OwnersOf(const std::string& key) const { return cluster::OwnersOf(key, LivePeers()); }

std::vector<std::string> Router::Targets(const std::string& key) const {
  Owners o = OwnersOf(key);
  std::vector<std::string> out;
  for (const std::string* p : {&o.owner, &o.successor}) {
    if (p->empty() || *p == self()) break;  // self in the top two: answer here from there on
    out.push_back(*p);
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
  Owners o = OwnersOf(key);
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
