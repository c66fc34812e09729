#pragma once
// IPv4 address blocks for the media destination allowlist ([media] allow_destinations).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace confab::media {

struct Cidr {
  std::uint32_t net = 0;   // host byte order, the host bits zero
  std::uint32_t mask = 0;  // host byte order
};

// "10.0.0.0/8", "192.0.2.7/32" or "192.0.2.7" (one host). Throws std::invalid_argument naming
// the text and what is wrong (host bits set, a prefix over 32, not an IPv4 address).
Cidr parse_cidr(std::string_view text);
std::string to_string(const Cidr& c);

// True when `ip` (host byte order) is in one of `allow`, or `allow` is empty (any address).
// Allocation-free: the shard calls it when a leg latches to a new source.
inline bool allowed(std::span<const Cidr> allow, std::uint32_t ip) {
  if (allow.empty()) return true;
  for (auto& c : allow)
    if ((ip & c.mask) == c.net) return true;
  return false;
}

}  // namespace confab::media
