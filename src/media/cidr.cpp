#include "media/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

namespace confab::media {

Cidr parse_cidr(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return std::invalid_argument("\"" + std::string(text.substr(0, 64)) +
                                 "\": " + std::string(why));
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
  return std::string(buf) + "/" + std::to_string(prefix);
}

}  // namespace confab::media
