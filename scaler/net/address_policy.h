#pragma once
// The address rule for connections a ScaledObject author chooses (issue 19 item 4): such a
// request may not reach this host itself or its link (loopback, link-local, the unspecified
// address, the addresses of this host's interfaces) unless the server allows static endpoints.
// The HTTP client applies it to the address it actually connects to (so a name that resolves,
// or is rebound, to such an address is refused too).

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

namespace nimscaler::net {

/// What kind of refused address `addr` is ("a loopback address", "a link-local address",
/// "the unspecified address", "an address of this host", "an address of this node"), or ""
/// when it may be reached.
/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
std::string RefusedAddressKind(const sockaddr* addr);

/// Same for a numeric IPv4 or IPv6 address in text form; text that is not an address gives "".
std::string RefusedAddressKind(std::string_view numeric_ip);

/// Sets the node's own addresses, refused like this host's ("an address of this node"): a pod
/// without hostNetwork does not have them on an interface (the server learns them from
/// --node-ip, which the chart fills from status.hostIP). Replaces any earlier list; entries
/// that are not numeric IPv4 or IPv6 addresses are skipped (the config layer rejects them).
void SetNodeAddresses(const std::vector<std::string>& numeric_ips);

/// The numeric form of an IPv4 or IPv6 socket address ("127.0.0.1", "fe80::1"); "" for others.
std::string FormatAddress(const sockaddr* addr);

}  // namespace nimscaler::net
