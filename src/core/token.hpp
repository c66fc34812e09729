#pragma once
// Auth tokens: self-contained and signed (HMAC-SHA256 with the server secret), so checking one on
// every request costs a hash, not a database read. They carry their own expiry.
#include <cstdint>
#include <string>
#include <string_view>

namespace confab::core {

struct TokenClaims {
  std::string account_id;
  std::string user_id;       // empty for api_key tokens
  std::int64_t expires = 0;  // unix seconds
  std::string method;        // "api_key" or "user_auth"
};

std::string issue_token(std::string_view secret, const TokenClaims& c);
// Throws Error{unauthorized} when the token is malformed, forged or expired.
TokenClaims verify_token(std::string_view secret, std::string_view token, std::int64_t now);

}  // namespace confab::core
