#include "media/cidr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace confab::media {

Cidr parse_cidr(std::string_view text) {
  auto bad = [&](const char* why) {
    // snprintf, not chained std::string +: GCC 12 at -O3 warns falsely on those.
    char msg[160];
    std::snprintf(msg, sizeof msg, "\"%.*s\": %s",
                  static_cast<int>(std::min<std::size_t>(text.size(), 64)), text.data(), why);
    return std::invalid_argument(msg);
  };

  if (text.size() > 18) throw bad("not an IPv4 address block (a.b.c.d/n)");
  auto slash = text.find('/');
  std::string addr(text.substr(0, slash));
  int prefix = 32;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || prefix < 0 || prefix > 32)
      throw bad("the prefix length must be 0 to 32");
  }
  in_addr a{};
  if (::inet_pton(AF_INET, addr.c_str(), &a) != 1) throw bad("not an IPv4 address");
  Cidr c;
  c.mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  c.net = ntohl(a.s_addr);
  if ((c.net & ~c.mask) != 0) throw bad("host bits are set (the block starts lower)");
  return c;
}

std::string to_string(const Cidr& c) {
  in_addr a{};
  a.s_addr = htonl(c.net);
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  int prefix = 0;
  for (auto m = c.mask; m; m <<= 1) ++prefix;
  std::string out(buf);
  out.append("/").append(std::to_string(prefix));
  return out;
}

}  // namespace confab::media
