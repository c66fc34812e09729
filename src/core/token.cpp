#include "core/token.hpp"

#include "core/crypto.hpp"
#include "core/error.hpp"

#include <charconv>
#include <vector>

namespace confab::core {

std::string issue_token(std::string_view secret, const TokenClaims& c) {
  std::string payload =
      c.account_id + "|" + c.user_id + "|" + std::to_string(c.expires) + "|" + c.method;
  auto body = base64url(payload);
  return body + "." + hmac_sha256_hex(secret, body).substr(0, 40);
}

TokenClaims verify_token(std::string_view secret, std::string_view token, std::int64_t now) {
  auto bad = [](const char* why) { return Error(Errc::unauthorized, why); };
  if (token.empty()) throw bad("missing auth token");
  if (token.size() > 512) throw bad("invalid auth token");
  auto dot = token.find('.');
  if (dot == std::string_view::npos) throw bad("invalid auth token");
  auto body = token.substr(0, dot);
  auto sig = token.substr(dot + 1);
  if (!constant_time_equal(sig, hmac_sha256_hex(secret, body).substr(0, 40)))
    throw bad("invalid auth token");
  std::string payload;
  if (!base64url_decode(body, payload)) throw bad("invalid auth token");
  std::vector<std::string_view> parts;
  std::string_view rest = payload;
  for (std::size_t p; (p = rest.find('|')) != std::string_view::npos; rest.remove_prefix(p + 1))
    parts.push_back(rest.substr(0, p));
  parts.push_back(rest);
  if (parts.size() != 4) throw bad("invalid auth token");
  TokenClaims c{std::string(parts[0]), std::string(parts[1]), 0, std::string(parts[3])};
  auto [ptr, ec] = std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), c.expires);
  if (ec != std::errc{} || ptr != parts[2].data() + parts[2].size())
    throw bad("invalid auth token");
  if (c.expires <= now) throw bad("auth token expired");
  return c;
}

}  // namespace confab::core
