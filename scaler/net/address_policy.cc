// Exports RefusedAddressKind(), SetNodeAddresses() and FormatAddress(). This host's own addresses come from
// getifaddrs(), cached for a few seconds (an interface can gain an address at run time).
#include "scaler/net/address_policy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace nimscaler::net {

namespace {

// An address as 16 bytes: IPv4 as its IPv4-mapped IPv6 form, so both families compare alike.
using Addr16 = std::array<unsigned char, 16>;

bool ToAddr16(const sockaddr* sa, Addr16* out) {
  if (sa == nullptr) return false;
  if (sa->sa_family == AF_INET) {
    in_addr a;
    std::memcpy(&a, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, sizeof a);
    out->fill(0);
    (*out)[10] = (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, &a, 4);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    std::memcpy(out->data(), &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
    return true;
  }
  return false;
}

bool IsV4Mapped(const Addr16& a) {
  for (int i = 0; i < 10; ++i) {
    if (a[i] != 0) return false;
  }
  return a[10] == 0xff && a[11] == 0xff;
}

// The addresses of this host's interfaces, refreshed at most every few seconds. The
// getifaddrs() call runs outside the lock.
class OwnAddresses {
 public:
  bool Contains(const Addr16& a) {
    auto now = std::chrono::steady_clock::now();
    std::shared_ptr<const std::vector<Addr16>> list;
    {
      std::lock_guard lock(mu_);
      if (list_ != nullptr && now - loaded_ < std::chrono::seconds(5)) list = list_;
    }
    if (list == nullptr) {
      list = Load();
      std::lock_guard lock(mu_);
      list_ = list;
      loaded_ = now;
    }
    for (const auto& own : *list) {
      if (own == a) return true;
    }
    return false;
  }

 private:
  static std::shared_ptr<const std::vector<Addr16>> Load() {
    auto out = std::make_shared<std::vector<Addr16>>();
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return out;
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
      Addr16 a;
      if (ToAddr16(i->ifa_addr, &a)) out->push_back(a);
    }
    freeifaddrs(list);
    return out;
  }

  std::mutex mu_;
  std::shared_ptr<const std::vector<Addr16>> list_;
  std::chrono::steady_clock::time_point loaded_{};
};

// The node's addresses given by SetNodeAddresses(); swapped whole, read under a short lock.
class NodeAddresses {
 public:
  void Set(std::shared_ptr<const std::vector<Addr16>> list) {
    std::lock_guard lock(mu_);
    list_ = std::move(list);
  }
  bool Contains(const Addr16& a) {
    std::shared_ptr<const std::vector<Addr16>> list;
    {
      std::lock_guard lock(mu_);
      list = list_;
    }
    if (list == nullptr) return false;
    for (const auto& n : *list) {
      if (n == a) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<const std::vector<Addr16>> list_;
};

NodeAddresses& Node() {
  static NodeAddresses* node = new NodeAddresses();  // never destroyed, like Own()
  return *node;
}

bool ParseNumeric(std::string ip, Addr16* out) {
  if (auto pct = ip.find('%'); pct != std::string::npos) ip.resize(pct);  // "fe80::1%eth0"
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET, ip.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    return ToAddr16(reinterpret_cast<const sockaddr*>(&v4), out);
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    return ToAddr16(reinterpret_cast<const sockaddr*>(&v6), out);
  }
  return false;
}

OwnAddresses& Own() {
  static OwnAddresses* own = new OwnAddresses();  // never destroyed: used from any thread at exit
  return *own;
}

std::string Judge(const Addr16& a) {
  if (IsV4Mapped(a)) {
    unsigned char b0 = a[12], b1 = a[13];
    if (b0 == 127) return "a loopback address";
    if (b0 == 0) return "the unspecified address";  // 0.0.0.0/8: Linux connects it to this host
    if (b0 == 169 && b1 == 254) return "a link-local address";
  } else {
    static const Addr16 kAny{};
    Addr16 loopback{};
    loopback[15] = 1;
    if (a == kAny) return "the unspecified address";
    if (a == loopback) return "a loopback address";
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return "a link-local address";
  }
  if (Own().Contains(a)) return "an address of this host";
  if (Node().Contains(a)) return "an address of this node";
  return {};
}

}  // namespace

std::string RefusedAddressKind(const sockaddr* addr) {
  Addr16 a;
  if (!ToAddr16(addr, &a)) return {};
  return Judge(a);
}

std::string RefusedAddressKind(std::string_view numeric_ip) {
  Addr16 a;
  if (!ParseNumeric(std::string(numeric_ip), &a)) return {};
  return Judge(a);
}

void SetNodeAddresses(const std::vector<std::string>& numeric_ips) {
  auto list = std::make_shared<std::vector<Addr16>>();
  for (const auto& ip : numeric_ips) {
    Addr16 a;
    if (ParseNumeric(ip, &a)) list->push_back(a);
  }
  Node().Set(std::move(list));
}

std::string FormatAddress(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr == nullptr) return {};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

}  // namespace nimscaler::net
