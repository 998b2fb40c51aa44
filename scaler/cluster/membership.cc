// Exports Membership.
#include "scaler/cluster/membership.h"

#include <algorithm>

#include "scaler/telemetry/logging.h"

namespace nimscaler::cluster {

Membership::Membership(std::string self, std::shared_ptr<sources::EndpointSliceWatch> watch, std::string port_name,
                       int default_port, const Clock* clock)
    : self_(std::move(self)),
      watch_(std::move(watch)),
      port_name_(std::move(port_name)),
      default_port_(default_port),
      clock_(clock) {}

Membership::Membership(std::string self, std::vector<std::string> peers) : self_(std::move(self)) {
  std::sort(peers.begin(), peers.end());
  peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
  peers_ = std::move(peers);
  known_ = true;
}

bool Membership::Known() const {
  Peers();  // reads the watch when due
  std::lock_guard lock(mu_);
  return known_;
}

std::vector<std::string> Membership::Peers() const {
  std::lock_guard lock(mu_);
  if (watch_ != nullptr) {
    TimePoint now = clock_->Now();
    if (!known_ || now - read_at_ >= std::chrono::milliseconds(200)) {
      read_at_ = now;
      auto eps = watch_->Endpoints();
      if (eps.ok()) {  // on an error the last list stands
        known_ = true;
        std::vector<std::string> peers;
        for (const auto& e : *eps) {
          if (!e.ready || e.terminating) continue;
          auto it = e.ports.find(port_name_);
          int port = it != e.ports.end() ? it->second : default_port_;
          std::string host = e.address.find(':') != std::string::npos ? "[" + e.address + "]" : e.address;
          peers.push_back(host + ":" + std::to_string(port));
        }
        std::sort(peers.begin(), peers.end());
        peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
        if (peers != peers_) {
          std::string list;
          for (const auto& p : peers) list += (list.empty() ? "" : ", ") + p;
          telemetry::Logger("cluster")->info("HA: {} peer(s): {}", peers.size(), list.empty() ? "(none ready)" : list);
        }
        peers_ = std::move(peers);
      }
    }
  }
  if (peers_.empty()) return {self_};
  return peers_;
}

}  // namespace nimscaler::cluster
