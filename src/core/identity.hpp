#pragma once
// Account and user documents (Kazoo style). Passwords never reach the store: a user's Kazoo
// credentials (md5 of "username:password") are kept only as a keyed hash.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace confab::core {

boost::json::object validate_account(const boost::json::value& input);

struct ValidatedUser {
  boost::json::object doc;  // without password
  std::string password;     // empty when not given
};
ValidatedUser validate_user(const boost::json::value& input);

// Kazoo's user_auth credentials: md5 hex of "<lower-case username>:<password>".
std::string user_credentials(std::string_view username, std::string_view password);
std::string lower(std::string_view s);

}  // namespace confab::core
